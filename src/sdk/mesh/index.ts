/**
 * The Node SDK of the mesh: join with a one-time token, serve and call other services over mTLS with
 * SPIFFE identities, with the same service-to-service policy as the sidecar and no sidecar.
 */

// Joining, renewal and revocation live in core (every Bulwark component joins the mesh the same way).
export {
  AuthorityClient,
  type AuthorityClientOptions,
  createWorkloadKey,
  type ResolvedInstance,
  RevocationSet,
  type SvidResponse,
  WorkloadIdentity,
  type WorkloadIdentityOptions,
  type WorkloadKey,
} from '../../core/mtls/index.ts';
export { type DecidedTarget, type MeshTarget, meshTarget } from './canonical-path.ts';
export { MeshClient, type MeshClientOptions, type Resolver } from './mesh-client.ts';
export type { MeshIdentity } from './mesh-identity.ts';
export { createMeshMetrics, type MeshMetrics } from './mesh-metrics.ts';
export { createMeshServer, type MeshHandler, type MeshServerOptions } from './mesh-server.ts';
export { type ServiceCall, ServicePolicy } from './service-policy.ts';
