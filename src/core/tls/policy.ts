/**
 * The TLS settings every Bulwark listener uses: TLS 1.2 at least, 1.3 preferred, and for 1.2 only
 * forward-secret AEAD suites (Mozilla "intermediate" minus CBC), so no downgrade to a weak cipher exists.
 */
import type { SecureContextOptions } from 'node:tls';

export const TLS12_AEAD_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

/** TLS 1.3 suites, all AEAD (RFC 8446 §9.1). */
export const TLS13_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
];

export function secureContextOptions(minVersion: 'TLSv1.2' | 'TLSv1.3'): SecureContextOptions {
  return {
    minVersion,
    ciphers: [...TLS13_CIPHERS, ...TLS12_AEAD_CIPHERS].join(':'),
    honorCipherOrder: true,
  };
}
