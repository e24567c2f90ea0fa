/**
 * The authority's own SVID. Every other workload attests with a join token; the authority is the CA, so it
 * issues its own certificate in-process (`spiffe://<trust domain>/service/authority`, with the host names
 * it serves on) and renews it at half-life like any workload. Its listener then presents an SVID like every
 * other component, and workloads check it by the same rules.
 */
import type { Clock, ServingIdentity } from '../../core/index.ts';
import {
  createWorkloadKey,
  RotatingCredentials,
  renewalDelay,
  type SvidMaterial,
  serviceSpiffeId,
} from '../../core/mtls/index.ts';
import type { CertificateAuthority } from './certificate-authority.ts';

export interface OwnSvid extends ServingIdentity {
  /** Re-reads the trust bundle into the served context (after a CA rotation step). */
  refreshBundle(): Promise<void>;
  close(): void;
}

export async function startOwnSvid(options: {
  ca: CertificateAuthority;
  trustDomain: string;
  hosts: readonly string[];
  clock: Clock;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  onError: (err: unknown) => void;
}): Promise<OwnSvid> {
  const { ca, trustDomain, hosts, clock } = options;
  const spiffeId = serviceSpiffeId(trustDomain, 'authority');
  const bundle = async () => (await ca.trustedRoots()).map((r) => r.pem);
  const issue = async (): Promise<SvidMaterial> => {
    const key = await createWorkloadKey();
    const issued = await ca.issue(spiffeId, key.csrPem, undefined, hosts);
    return {
      spiffeId,
      certChain: issued.certChain,
      key: key.privateKeyPem,
      bundle: await bundle(),
      notBefore: issued.notBefore,
      notAfter: issued.notAfter,
    };
  };
  const credentials = new RotatingCredentials(await issue(), { minVersion: options.minVersion });
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    const m = credentials.material;
    const delay = Math.max(1000, renewalDelay(m.notBefore, m.notAfter, clock.now(), Math.random()));
    timer = setTimeout(() => {
      issue()
        .then((material) => credentials.update(material))
        .catch(options.onError)
        .finally(schedule);
    }, delay).unref();
  };
  schedule();
  return {
    spiffeId,
    trustDomain,
    credentials,
    // The authority checks revocation per route against its own database (CallerResolver), which is the
    // source of truth; the listener-level check has nothing to add here.
    revocations: { isRevoked: () => false },
    async refreshBundle() {
      credentials.update({ ...credentials.material, bundle: await bundle() });
    },
    close() {
      clearTimeout(timer);
    },
  };
}
