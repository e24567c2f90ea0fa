/**
 * Mutual TLS with SPIFFE identities: what `authority`, the sidecar, the Node SDK and every component's
 * listener use. It never imports a component.
 */

export {
  AuthorityClient,
  type AuthorityClientOptions,
  type ResolvedInstance,
  type SvidResponse,
} from './authority-client.ts';
export { componentDispatcher } from './component-mesh.ts';
export { MTLS_ERRORS, type MtlsErrorCode, mtlsError } from './errors.ts';
export { type MtlsDispatcherOptions, mtlsConnector, mtlsDispatcher } from './mtls-dispatcher.ts';
export { enforceMtls, type MtlsListenerOptions } from './mtls-listener.ts';
export {
  componentServerCheck,
  type PeerIdentity,
  type PeerRequirements,
  type RevocationCheck,
  verifiedCertificate,
  verifiedPeer,
} from './peer-identity.ts';
export { type RevocationFeed, type RevocationFeedEntry, RevocationSet } from './revocation-set.ts';
export { type CredentialsListener, RotatingCredentials, renewalDelay } from './rotating-credentials.ts';
export {
  isSpiffeId,
  listedCaller,
  parseSpiffeId,
  parseTrustDomain,
  type SpiffeId,
  serviceNameOf,
  serviceSpiffeId,
} from './spiffe-id.ts';
export { type MtlsOptions, mtlsServerOptions, type SvidMaterial, svidContextOptions } from './tls-options.ts';
export { svidMaterial, WorkloadIdentity, type WorkloadIdentityOptions } from './workload-identity.ts';
export { createWorkloadKey, type WorkloadKey } from './workload-key.ts';
export { inspectX509Svid, normaliseSerial, type SvidFacts } from './x509-svid.ts';
