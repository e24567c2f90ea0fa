/**
 * The Node SDK of the mesh: join with a one-time token, serve and call other services over mTLS with
 * SPIFFE identities, with the same service-to-service policy as the sidecar and no sidecar.
 */
export {
  AuthorityClient,
  type AuthorityClientOptions,
  type ResolvedInstance,
  type SvidResponse,
} from './authority-client.ts';
export { type DecidedTarget, type MeshTarget, meshTarget } from './canonical-path.ts';
export { MeshClient, type MeshClientOptions, type Resolver } from './mesh-client.ts';
export type { MeshIdentity } from './mesh-identity.ts';
export { createMeshMetrics, type MeshMetrics } from './mesh-metrics.ts';
export { createMeshServer, type MeshHandler, type MeshServerOptions } from './mesh-server.ts';
export { RevocationSet } from './revocation-set.ts';
export { type ServiceCall, ServicePolicy } from './service-policy.ts';
export { WorkloadIdentity, type WorkloadIdentityOptions } from './workload-identity.ts';
export { createWorkloadKey, type WorkloadKey } from './workload-key.ts';
