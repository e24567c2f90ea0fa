/**
 * The operator's identity for CLI calls to components. Under `bulwark up` every component serves only
 * mutual TLS, so a CLI command needs a client certificate as much as a component does. Whoever can read the
 * authority's admin token (`<home>/authority/admin.token`, 0600) is the operator: the CLI uses it to make a
 * one-time join token for `spiffe://<trust domain>/service/operator`, attests with a key it generated, and
 * presents that short-lived SVID. The key lives in this process only.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { adminTokenPath } from '../authority/paths.ts';
import { AuthorityClient, createWorkloadKey } from '../core/mtls/index.ts';
import { authorityAdminCall } from './commands/authority.ts';
import { readState } from './runtime-state.ts';

/** The SVID as TLS client options: spread into undici `connect` options. */
export interface ClientCertificate {
  cert: string;
  key: string;
}

let current: ClientCertificate | undefined;

/**
 * Obtains the operator SVID when `bulwark up` runs an authority here and the admin token is readable;
 * otherwise leaves the CLI without one (components then run on the local CA, or `--url` points elsewhere).
 */
export async function prepareOperatorIdentity(home: string): Promise<void> {
  if (current) return;
  // Reused while it has more than a few minutes left: `bulwark status` in a loop must not mint a
  // certificate (and write audit records) each time. Kept as private as the admin token it comes from.
  const cacheFile = join(home, 'run', 'operator-svid.json');
  const cached = readCached(cacheFile);
  if (cached) {
    current = cached;
    return;
  }
  const state = readState(home);
  const authority = state?.components.find((c) => c.name === 'authority' && c.url);
  const tokenFile = adminTokenPath(home);
  if (!authority?.url || !state?.caFile || !existsSync(tokenFile) || !existsSync(state.caFile)) return;
  const ca = readFileSync(state.caFile, 'utf8');
  const grant = (await authorityAdminCall(
    { url: authority.url, ca, token: readFileSync(tokenFile, 'utf8').trim() },
    'POST',
    '/v1/join-tokens',
    { service: 'operator', ttlSeconds: 60 },
  )) as { token: string };
  const key = await createWorkloadKey();
  const client = new AuthorityClient({ url: authority.url, authorityCa: ca });
  try {
    const svid = await client.attest(grant.token, key.csrPem);
    current = { cert: svid.certChain, key: key.privateKeyPem };
    mkdirSync(dirname(cacheFile), { recursive: true, mode: 0o700 });
    writeFileSync(cacheFile, JSON.stringify({ ...current, notAfter: Date.parse(svid.notAfter) }), {
      mode: 0o600,
    });
  } finally {
    await client.close();
  }
}

function readCached(file: string): ClientCertificate | undefined {
  try {
    const cached = JSON.parse(readFileSync(file, 'utf8')) as ClientCertificate & { notAfter: number };
    return cached.notAfter - Date.now() > 5 * 60_000 ? { cert: cached.cert, key: cached.key } : undefined;
  } catch {
    return undefined;
  }
}

/** `connect` options for undici: the given ones plus the operator's client certificate when there is one. */
export function withOperatorCertificate<T extends object>(connect: T): T & Partial<ClientCertificate> {
  return current ? { ...connect, ...current } : connect;
}

/** Whether this process holds the operator SVID (components on the mesh then know the caller by it). */
export function hasOperatorCertificate(): boolean {
  return current !== undefined;
}
