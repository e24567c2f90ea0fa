/** Workloads joined to a real authority, and a service-to-service policy, for the SDK and sidecar tests. */
import { request as httpsRequest } from 'node:https';
import type { Dispatcher } from 'undici';
import { componentDispatcher, svidContextOptions } from '../../src/core/mtls/index.ts';
import { WorkloadIdentity } from '../../src/core/mtls/workload-identity.ts';
import { type Decision, PolicyEngine } from '../../src/core/policy-engine/index.ts';
import { type ServiceCall, ServicePolicy } from '../../src/sdk/mesh/service-policy.ts';
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

/** Workloads joined to `authority`, each with an mTLS dispatcher to the Bulwark component `component`. */
export interface MeshCallers {
  /** The dispatcher of each workload, by service name. */
  as: Record<string, Dispatcher>;
  identities: Record<string, WorkloadIdentity>;
  close(): Promise<void>;
}

export async function meshCallers(
  authority: TestAuthority,
  names: readonly string[],
  component: string,
): Promise<MeshCallers> {
  const callers: MeshCallers = {
    as: {},
    identities: {},
    async close() {
      for (const d of Object.values(callers.as)) await d.close();
      for (const i of Object.values(callers.identities)) await i.close();
    },
  };
  for (const name of names) {
    const identity = await joinWorkload(authority, name);
    callers.identities[name] = identity;
    callers.as[name] = componentDispatcher(identity, component);
  }
  return callers;
}

/** Records the path of every call the policy is asked about: the path the decision was made on. */
export class RecordingPolicy extends ServicePolicy {
  readonly decided: string[] = [];
  override authorize(call: ServiceCall, requestId?: string): Decision {
    this.decided.push(call.path);
    return super.authorize(call, requestId);
  }
}

/** `orders` is forbidden under `/admin` whoever calls: the rule the path attacks try to get past. */
export const ADMIN_FORBIDDEN_POLICY = `${MESH_POLICY}
@id("no-admin-on-orders")
forbid (principal, action == Bulwark::Action::"call", resource == Bulwark::Service::"${sid('orders')}")
when { context.path like "/admin*" };
`;

export function recordingPolicy(text = ADMIN_FORBIDDEN_POLICY): RecordingPolicy {
  const engine = new PolicyEngine();
  engine.load({ policies: [{ file: 'mesh.cedar', text }] });
  return new RecordingPolicy(engine);
}

/**
 * One request with the request-target sent byte for byte as given (no client-side normalisation of
 * `..`, `//` or percent-encoding), over mTLS with `caller`'s SVID.
 */
export function rawMeshRequest(
  caller: WorkloadIdentity,
  port: number,
  target: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        ...svidContextOptions(caller.credentials.material),
        host: '127.0.0.1',
        port,
        method: 'GET',
        path: target,
        agent: false,
        // An SVID names a SPIFFE ID, not a host: the chain to the bundle is what is checked here.
        checkServerIdentity: () => undefined,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/**
 * Attack targets on `/admin`, each with what the mesh must do: 400 (refused before any decision) or 403
 * (decided as `/admin...`, then forbidden). Never 200.
 */
export const ADMIN_ATTACKS: readonly (readonly [target: string, expected: 400 | 403])[] = [
  ['/%61dmin', 403],
  ['/%61%64%6D%69%6E/users', 403],
  ['/x/../admin', 403],
  ['/orders/./../admin', 403],
  ['//admin', 403],
  ['///admin/', 403],
  ['/%2e%2e/admin', 403],
  ['/x/%2E%2e/admin', 403],
  ['/x/.%2e/admin', 403],
  ['/x/%252e%252e/admin', 400],
  ['/x/%25%32%65%25%32%65/admin', 400],
  ['/%2561dmin', 400],
  ['/admin%2f', 400],
  ['/x%2f..%2fadmin', 400],
  ['/x%5c..%5cadmin', 400],
  ['/admin%00.json', 400],
  ['/admin;jsessionid=1', 400],
  ['/x/..;/admin', 400],
  ['/x/%0a/../admin', 400],
];
