/** Workloads joined to a real authority, and a service-to-service policy, for the SDK and sidecar tests. */
import { PolicyEngine } from '../../src/core/policy-engine/index.ts';
import { ServicePolicy } from '../../src/sdk/mesh/service-policy.ts';
import { WorkloadIdentity } from '../../src/sdk/mesh/workload-identity.ts';
import type { TestAuthority } from '../authority/fixtures.ts';

export const TD = 'bulwark.local';
export const sid = (service: string) => `spiffe://${TD}/service/${service}`;

/** `frontend` may call `orders`, `orders` may call `payments`; nothing else is allowed. */
export const MESH_POLICY = `
@id("frontend-calls-orders")
permit (principal == Bulwark::Service::"${sid('frontend')}", action == Bulwark::Action::"call",
        resource == Bulwark::Service::"${sid('orders')}");
@id("orders-calls-payments")
permit (principal == Bulwark::Service::"${sid('orders')}", action == Bulwark::Action::"call",
        resource == Bulwark::Service::"${sid('payments')}");
`;

export function meshPolicy(text = MESH_POLICY): ServicePolicy {
  const engine = new PolicyEngine();
  engine.load({ policies: [{ file: 'mesh.cedar', text }] });
  return new ServicePolicy(engine);
}

export async function joinWorkload(
  authority: TestAuthority,
  service: string,
  options: { revocationWaitMs?: number } = {},
): Promise<WorkloadIdentity> {
  return WorkloadIdentity.join({
    authority: authority.client(),
    joinToken: await authority.joinToken(service),
    revocationWaitMs: options.revocationWaitMs ?? 2000,
    onError: () => undefined,
  });
}
