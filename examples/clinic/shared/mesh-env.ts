/** The mesh settings of an SDK service process, from the environment (see the README's table). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { type AuditSink, createAuditClient } from '../../../src/core/index.ts';
import { mtlsDispatcher, serviceSpiffeId } from '../../../src/core/mtls/index.ts';
import { joined } from './mesh.ts';
import { env, optionalEnv, portEnv } from './process.ts';

export function meshFromEnv() {
  const policyFiles = optionalEnv('CLINIC_POLICY_FILES')?.split(',').filter(Boolean);
  const advertiseHost = optionalEnv('CLINIC_ADVERTISE_HOST');
  const gatewayPeer = optionalEnv('CLINIC_GATEWAY_PEER');
  return {
    authorityUrl: env('BULWARK_AUTHORITY_URL', "authority's URL, e.g. https://127.0.0.1:7305"),
    authorityCa: readFileSync(
      env('BULWARK_AUTHORITY_CA_FILE', 'the CA authority serves under, e.g. <home>/tls/ca.crt'),
      'utf8',
    ),
    joinToken: env('MESH_JOIN_TOKEN', 'a one-time token: bulwark authority join-token <service>'),
    port: portEnv('CLINIC_PORT', 0),
    host: optionalEnv('CLINIC_HOST') ?? '127.0.0.1',
    ...(advertiseHost ? { advertiseHost } : {}),
    ...(gatewayPeer ? { gatewayPeer } : {}),
    ...(policyFiles ? { policyFiles } : {}),
  };
}

/**
 * The core audit client when `BULWARK_AUDIT_URL` is set (batched, retried, spooled to
 * `CLINIC_SPOOL_DIR`, default `<data dir>/spool`, while audit is unreachable); else no audit sink.
 */
export function auditFromEnv(name: string, dataDir: string): AuditSink | undefined {
  const url = optionalEnv('BULWARK_AUDIT_URL');
  if (!url) return undefined;
  const caFile = optionalEnv('BULWARK_AUDIT_CA_FILE');
  // audit serves only mTLS under `bulwark up`: once the service has joined, events go with its SVID.
  let dispatcher: Dispatcher | undefined;
  return createAuditClient({
    url,
    ...(caFile ? { ca: readFileSync(caFile, 'utf8') } : {}),
    dispatcher: () => {
      const identity = joined.identity;
      if (!dispatcher && identity) {
        const audit = serviceSpiffeId(identity.trustDomain, 'audit');
        dispatcher = mtlsDispatcher(identity.credentials, {
          trustDomains: new Set([identity.trustDomain]),
          revocations: identity.revocations,
          authorizeServer: (id) => id === audit,
        });
      }
      return dispatcher;
    },
    spoolDirectory: optionalEnv('CLINIC_SPOOL_DIR') ?? join(dataDir, 'spool'),
    name,
  });
}
