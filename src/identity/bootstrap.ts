/**
 * First start: the service account `bulwark-admin` (role `admin`) whose credentials the CLI uses, written
 * to `<home>/identity/admin-client.json` with mode 0600, like a kubeconfig. It exists once; delete the file
 * after copying the secret somewhere safer, and rotate it with `bulwark identity clients rotate-secret`.
 * Beside it, `bulwark-revocation-reader` (revocation feed only) for gateways.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Store } from '../core/index.ts';
import { ADMIN_RESOURCE, ADMIN_SCOPE } from './admin/admin-auth.ts';
import { clientMetadata, hashSecret } from './clients/client-registry.ts';
import { ADMIN_ROLE, PERMISSIONS, type RoleStore } from './users/roles.ts';

export const ADMIN_CLIENT_ID = 'bulwark-admin';

export function adminCredentialsPath(home: string): string {
  return join(home, 'identity', 'admin-client.json');
}

export async function bootstrapAdminClient(store: Store, roles: RoleStore, home: string): Promise<boolean> {
  return bootstrapServiceAccount(store, roles, {
    clientId: ADMIN_CLIENT_ID,
    name: 'Bulwark administration',
    role: ADMIN_ROLE,
    file: adminCredentialsPath(home),
  });
}

export const REVOCATION_READER_CLIENT_ID = 'bulwark-revocation-reader';
export const REVOCATION_READER_ROLE = 'revocation-reader';

export function revocationReaderCredentialsPath(home: string): string {
  return join(home, 'identity', 'revocation-reader.json');
}

/**
 * The service account gateways read identity's revocation feed with: `identity:revocations:read` and
 * nothing else, so the internet-facing gateway never holds identity administration (least privilege).
 */
export async function bootstrapRevocationReader(
  store: Store,
  roles: RoleStore,
  home: string,
): Promise<boolean> {
  if (!(await roles.get(REVOCATION_READER_ROLE))) {
    await roles.upsert({
      name: REVOCATION_READER_ROLE,
      description: "Reads identity's revocation feed (gateways)",
      permissions: [PERMISSIONS.revocationsRead],
      mfaRequired: false,
    });
  }
  return bootstrapServiceAccount(store, roles, {
    clientId: REVOCATION_READER_CLIENT_ID,
    name: 'Bulwark revocation feed reader',
    role: REVOCATION_READER_ROLE,
    file: revocationReaderCredentialsPath(home),
  });
}

/** Creates a service account holding one role, once, and writes its credentials (0600) to `file`. */
async function bootstrapServiceAccount(
  store: Store,
  roles: RoleStore,
  account: { clientId: string; name: string; role: string; file: string },
): Promise<boolean> {
  const [exists] = await store.query("SELECT id FROM oidc_models WHERE model = 'Client' AND id = ?", [
    account.clientId,
  ]);
  if (exists) return false;
  const secret = randomBytes(32).toString('base64url');
  const metadata = clientMetadata(
    { name: account.name, kind: 'service', scope: ADMIN_SCOPE },
    account.clientId,
    hashSecret(secret),
  );
  await store.execute(
    'INSERT INTO oidc_models (model, id, payload, grant_id, uid, user_code, expires_at, consumed_at) VALUES (?, ?, ?, NULL, NULL, NULL, NULL, NULL)',
    ['Client', account.clientId, JSON.stringify(metadata)],
  );
  await roles.assign('client', account.clientId, [account.role]);
  mkdirSync(dirname(account.file), { recursive: true, mode: 0o700 });
  const credentials = {
    clientId: account.clientId,
    clientSecret: secret,
    resource: ADMIN_RESOURCE,
    scope: ADMIN_SCOPE,
  };
  writeFileSync(account.file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  return true;
}
