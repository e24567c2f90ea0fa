/**
 * First start: the service account `bulwark-admin` (role `admin`) whose credentials the CLI uses, written
 * to `<home>/identity/admin-client.json` with mode 0600, like a kubeconfig. It exists once; delete the file
 * after copying the secret somewhere safer, and rotate it with `bulwark identity clients rotate-secret`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../core/index.ts';
import { ADMIN_RESOURCE, ADMIN_SCOPE } from './admin/admin-auth.ts';
import { clientMetadata, hashSecret } from './clients/client-registry.ts';
import { ADMIN_ROLE, type RoleStore } from './users/roles.ts';

export const ADMIN_CLIENT_ID = 'bulwark-admin';

export function adminCredentialsPath(home: string): string {
  return join(home, 'identity', 'admin-client.json');
}

export async function bootstrapAdminClient(store: Store, roles: RoleStore, home: string): Promise<boolean> {
  const [exists] = await store.query("SELECT id FROM oidc_models WHERE model = 'Client' AND id = ?", [
    ADMIN_CLIENT_ID,
  ]);
  if (exists) return false;
  const secret = randomBytes(32).toString('base64url');
  const metadata = clientMetadata(
    { name: 'Bulwark administration', kind: 'service', scope: ADMIN_SCOPE },
    ADMIN_CLIENT_ID,
    hashSecret(secret),
  );
  await store.execute(
    'INSERT INTO oidc_models (model, id, payload, grant_id, uid, user_code, expires_at, consumed_at) VALUES (?, ?, ?, NULL, NULL, NULL, NULL, NULL)',
    ['Client', ADMIN_CLIENT_ID, JSON.stringify(metadata)],
  );
  await roles.assign('client', ADMIN_CLIENT_ID, [ADMIN_ROLE]);
  mkdirSync(join(home, 'identity'), { recursive: true, mode: 0o700 });
  const credentials = {
    clientId: ADMIN_CLIENT_ID,
    clientSecret: secret,
    resource: ADMIN_RESOURCE,
    scope: ADMIN_SCOPE,
  };
  writeFileSync(adminCredentialsPath(home), `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  return true;
}
