/** What a mesh endpoint needs to know about its own workload (a WorkloadIdentity satisfies it). */
import type { RevocationCheck, RotatingCredentials } from '../../core/mtls/index.ts';

export interface MeshIdentity {
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly credentials: RotatingCredentials;
  readonly revocations: RevocationCheck;
}
