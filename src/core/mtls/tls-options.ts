/**
 * TLS options for mutual TLS with X.509-SVIDs: Bulwark's protocol policy (core/tls/policy.ts: TLS 1.3
 * preferred, 1.2 with forward-secret AEAD suites only), the workload's SVID chain and key, the trust bundle
 * as the only accepted roots, and a client certificate that is required by default.
 */
import { constants } from 'node:crypto';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import { secureContextOptions } from '../tls/policy.ts';

/** What a workload holds: its SVID, key and the trust bundle. */
export interface SvidMaterial {
  /** The SPIFFE ID of the SVID. */
  spiffeId: string;
  /** PEM: the SVID, then the intermediates up to (not including) a root. */
  certChain: string;
  /** PEM PKCS#8 private key of the SVID. */
  key: string;
  /** PEM root certificates of the trust bundle (several while a CA rotates). */
  bundle: readonly string[];
  /** Validity of the SVID, in ms since the epoch. */
  notBefore: number;
  notAfter: number;
}

export interface MtlsOptions {
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

/** The secure-context part, shared by servers (`setSecureContext`) and clients. */
export function svidContextOptions(material: SvidMaterial, options: MtlsOptions = {}): SecureContextOptions {
  return {
    ...secureContextOptions(options.minVersion ?? 'TLSv1.2'),
    key: material.key,
    cert: material.certChain,
    // Only the bundle is trusted: Node's default public CA list is replaced, not extended.
    ca: [...material.bundle],
    ecdhCurve: 'X25519:P-256:P-384',
    // Renegotiation is a DoS lever and a source of identity confusion; TLS 1.3 removed it (RFC 8446 §4.1.2).
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
  };
}

/**
 * Options for `https.createServer` / `tls.createServer`. With `requireClientCertificate` (the default) the
 * handshake fails for a client without a certificate chaining to the bundle; set it false only where a
 * caller may come without one (authority's attestation endpoint) and check `socket.authorized` per route.
 *
 * @example
 * const server = https.createServer(mtlsServerOptions(material), handler);
 */
export function mtlsServerOptions(
  material: SvidMaterial,
  options: MtlsOptions & { requireClientCertificate?: boolean } = {},
): TlsOptions {
  return {
    ...svidContextOptions(material, options),
    requestCert: true,
    rejectUnauthorized: options.requireClientCertificate ?? true,
  };
}
