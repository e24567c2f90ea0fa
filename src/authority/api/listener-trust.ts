/**
 * Makes the authority's HTTPS listener ask for (not require) client certificates that chain to the trust
 * bundle. A workload's first call (attestation with a join token) has no SVID yet, so the certificate
 * cannot be mandatory here; every other workload route checks `verifiedPeer` itself. Core's Service
 * builds the listener; until it offers this option, the authority adjusts the tls.Server it was given
 * (tlsConnectionListener reads `requestCert` / `rejectUnauthorized` per connection).
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:tls';
import { type BulwarkConfig, localServerCredentials, secureContextOptions } from '../../core/index.ts';

export async function trustClientCertificates(
  server: Server,
  config: BulwarkConfig,
  roots: readonly string[],
): Promise<void> {
  const tls = config.server.tls;
  const own =
    tls.certFile && tls.keyFile
      ? { cert: readFileSync(tls.certFile, 'utf8'), key: readFileSync(tls.keyFile, 'utf8') }
      : await localServerCredentials(config.home, 'authority');
  server.setSecureContext({
    ...secureContextOptions(tls.minVersion),
    cert: own.cert,
    key: own.key,
    ca: [...roots],
  });
  const mutable = server as Server & { requestCert: boolean; rejectUnauthorized: boolean };
  mutable.requestCert = true;
  mutable.rejectUnauthorized = false;
}
