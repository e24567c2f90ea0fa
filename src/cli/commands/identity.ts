/**
 * `bulwark identity ...`: the admin API from the command line. The running component is found in
 * `<home>/run/state.json` (or `--url`), its certificate checked against `<home>/tls/ca.crt`, and the
 * command authenticates as the bootstrap service account from `<home>/identity/admin-client.json`
 * (client credentials, RFC 6749 §4.4) for an admin token that lives only in memory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { Agent, request } from 'undici';
import { componentServerCheck } from '../../core/mtls/index.ts';
import { adminCredentialsPath } from '../../identity/index.ts';
import { configFile, loadPlatformConfig } from '../config-file.ts';
import { withOperatorCertificate } from '../operator-identity.ts';
import { readState } from '../runtime-state.ts';

interface Target {
  url: string;
  dispatcher: Agent;
  credentials: { clientId: string; clientSecret: string; resource: string; scope: string };
}

interface CommonOptions {
  url?: string;
  ca?: string;
  credentials?: string;
  json?: boolean;
}

export class IdentityCliError extends Error {}

export function resolveIdentityTarget(options: CommonOptions, home: string): Target {
  const state = readState(home);
  const url = options.url ?? state?.components.find((c) => c.name === 'identity')?.url ?? undefined;
  if (!url) throw new IdentityCliError('identity is not running here; start it (`bulwark up`) or pass --url');
  const caFile = options.ca ?? state?.caFile ?? join(home, 'tls', 'ca.crt');
  const credFile = options.credentials ?? adminCredentialsPath(home);
  if (!existsSync(credFile))
    throw new IdentityCliError(`no admin credentials at ${credFile}; pass --credentials`);
  return {
    url,
    dispatcher: new Agent({
      connect: withOperatorCertificate({
        ...(existsSync(caFile) ? { ca: readFileSync(caFile, 'utf8') } : {}),
        // The admin client's secret goes to identity only: on the mesh, its SVID and no other.
        checkServerIdentity: componentServerCheck('identity', false),
      }),
    }),
    credentials: JSON.parse(readFileSync(credFile, 'utf8')) as Target['credentials'],
  };
}

async function adminToken(t: Target): Promise<string> {
  const { clientId, clientSecret, resource, scope } = t.credentials;
  const res = await request(`${t.url}/oidc/token`, {
    method: 'POST',
    dispatcher: t.dispatcher,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope }).toString(),
  });
  const body = (await res.body.json()) as {
    access_token?: string;
    error?: string;
    error_description?: string;
  };
  if (!body.access_token)
    throw new IdentityCliError(
      `token request refused: ${body.error ?? res.statusCode} ${body.error_description ?? ''}`,
    );
  return body.access_token;
}

/** One admin API call; throws with the problem's code and detail on failure. */
export async function identityApi(t: Target, method: string, path: string, body?: unknown): Promise<unknown> {
  const token = await adminToken(t);
  const res = await request(`${t.url}${path}`, {
    method: method as 'GET',
    dispatcher: t.dispatcher,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.body.text();
  const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (res.statusCode >= 400)
    throw new IdentityCliError(`${json['code'] ?? res.statusCode}: ${json['detail'] ?? text}`);
  return json;
}

function withCommon(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'identity base URL (default: from the running platform)')
    .option('--ca <file>', 'CA certificate to trust (default: <home>/tls/ca.crt)')
    .option('--credentials <file>', 'admin client credentials (default: <home>/identity/admin-client.json)')
    .option('--json', 'print JSON for scripts');
}

/** Registers `bulwark identity ...`; `io` lets tests read the output without touching process streams. */
export function registerIdentityCommands(
  program: Command,
  io: { out: NodeJS.WritableStream; err: NodeJS.WritableStream; exit(code: number): void } = {
    out: process.stdout,
    err: process.stderr,
    exit: (code) => {
      process.exitCode = code;
    },
  },
): void {
  const identity = program
    .command('identity')
    .description('manage users, roles, clients, sessions and signing keys');
  const home = () => loadPlatformConfig(configFile(program.opts<{ config?: string }>().config)).home;

  const action =
    (
      work: (
        t: Target,
        args: string[],
        options: Record<string, unknown>,
      ) => Promise<{ json: unknown; text: string }>,
    ) =>
    async (...raw: unknown[]) => {
      const cmd = raw.at(-1) as Command;
      const options = cmd.opts<CommonOptions & Record<string, unknown>>();
      const args = raw.slice(0, -2).map(String);
      try {
        const target = resolveIdentityTarget(options, home());
        try {
          const result = await work(target, args, options);
          io.out.write(options.json ? `${JSON.stringify(result.json, null, 2)}\n` : `${result.text}\n`);
        } finally {
          await target.dispatcher.close();
        }
      } catch (err) {
        if (!(err instanceof IdentityCliError)) throw err;
        io.err.write(`error: ${err.message}\n`);
        io.exit(1);
      }
    };

  withCommon(identity.command('rotate-keys'))
    .description(
      'advance signing-key rotation: publish the next key, then switch to it (run twice), or --phase retire',
    )
    .option('--phase <phase>', 'publish | switch | retire')
    .action(
      action(async (t, _args, o) => {
        const res = (await identityApi(
          t,
          'POST',
          '/admin/keys/rotate',
          o['phase'] ? { phase: o['phase'] } : {},
        )) as {
          phase: string;
          keys: { kid: string; state: string }[];
        };
        return {
          json: res,
          text: `${res.phase} done\n${res.keys.map((k) => `  ${k.state.padEnd(8)} ${k.kid}`).join('\n')}`,
        };
      }),
    );
  withCommon(identity.command('keys'))
    .description('list signing keys and their states')
    .action(
      action(async (t) => {
        const res = (await identityApi(t, 'GET', '/admin/keys')) as {
          keys: { kid: string; state: string; createdAt: string }[];
        };
        return {
          json: res,
          text: res.keys.map((k) => `${k.state.padEnd(8)} ${k.kid} created ${k.createdAt}`).join('\n'),
        };
      }),
    );

  const users = identity.command('users').description('user accounts');
  withCommon(users.command('list'))
    .description('list users')
    .action(
      action(async (t) => {
        const res = (await identityApi(t, 'GET', '/admin/users')) as {
          users: { id: string; username: string; status: string }[];
        };
        return {
          json: res,
          text:
            res.users.map((u) => `${u.id}  ${u.username.padEnd(24)} ${u.status}`).join('\n') || '(no users)',
        };
      }),
    );
  withCommon(users.command('create'))
    .description('create a user and print an invitation link (the user chooses the password)')
    .argument('<username>')
    .option('--email <email>', 'e-mail address')
    .option('--role <role...>', 'roles to assign')
    .action(
      action(async (t, [username], o) => {
        const res = (await identityApi(t, 'POST', '/admin/users', {
          username,
          ...(o['email'] ? { email: o['email'] } : {}),
          ...(o['role'] ? { roles: o['role'] } : {}),
        })) as { id: string; invitation?: { url: string; expiresAt: string } };
        return {
          json: res,
          text: `created ${res.id}\ninvitation (valid until ${res.invitation?.expiresAt}): ${res.invitation?.url}`,
        };
      }),
    );
  for (const [name, description, method, suffix, body] of [
    ['disable', 'disable a user', 'PATCH', '', { status: 'disabled' }],
    ['enable', 'enable a user', 'PATCH', '', { status: 'active' }],
    ['delete', 'delete a user', 'DELETE', '', undefined],
    ['unlock', 'clear the sign-in throttle of a user', 'POST', '/unlock', undefined],
    ['invite', 'issue a new invitation link', 'POST', '/invitation', undefined],
    ['reset-mfa', 'remove the TOTP, recovery codes and passkeys of a user', 'DELETE', '/mfa', undefined],
    [
      'revoke-sessions',
      'end every session and revoke every grant and token of a user',
      'DELETE',
      '/sessions',
      undefined,
    ],
  ] as const) {
    withCommon(users.command(name))
      .description(description)
      .argument('<id>', 'user id')
      .action(
        action(async (t, [id]) => {
          const res = await identityApi(t, method, `/admin/users/${encodeURIComponent(id!)}${suffix}`, body);
          return {
            json: res,
            text: `${name}: done${Object.keys(res as object).length ? ` ${JSON.stringify(res)}` : ''}`,
          };
        }),
      );
  }
  withCommon(users.command('sessions'))
    .description('list the sign-in sessions of a user')
    .argument('<id>', 'user id')
    .action(
      action(async (t, [id]) => {
        const res = (await identityApi(t, 'GET', `/admin/users/${encodeURIComponent(id!)}/sessions`)) as {
          sessions: { uid: string; loginAt: string; acr: string; clients: string[] }[];
        };
        return {
          json: res,
          text:
            res.sessions
              .map((x) => `${x.uid}  since ${x.loginAt}  ${x.acr}  ${x.clients.join(',')}`)
              .join('\n') || '(no sessions)',
        };
      }),
    );
  withCommon(users.command('set-roles'))
    .description('replace the roles of a user')
    .argument('<id>')
    .argument('<roles...>')
    .action(
      action(async (t, args) => {
        const [id, ...roles] = args;
        const res = await identityApi(t, 'PATCH', `/admin/users/${encodeURIComponent(id!)}`, { roles });
        return { json: res, text: `roles of ${id}: ${roles.join(', ')}` };
      }),
    );

  const roles = identity.command('roles').description('roles and their permissions');
  withCommon(roles.command('list'))
    .description('list roles')
    .action(
      action(async (t) => {
        const res = (await identityApi(t, 'GET', '/admin/roles')) as {
          roles: { name: string; permissions: string[]; mfaRequired: boolean }[];
        };
        return {
          json: res,
          text: res.roles
            .map((r) => `${r.name.padEnd(20)} ${r.mfaRequired ? 'MFA ' : '    '}${r.permissions.join(' ')}`)
            .join('\n'),
        };
      }),
    );
  withCommon(roles.command('set'))
    .description('create or replace a role')
    .argument('<name>')
    .argument('<permissions...>')
    .option('--mfa', 'holders must sign in with MFA')
    .option('--description <text>', 'description')
    .action(
      action(async (t, args, o) => {
        const [name, ...permissions] = args;
        const res = await identityApi(t, 'PUT', `/admin/roles/${encodeURIComponent(name!)}`, {
          permissions,
          mfaRequired: Boolean(o['mfa']),
          ...(o['description'] ? { description: o['description'] } : {}),
        });
        return { json: res, text: `role ${name} saved` };
      }),
    );

  const clients = identity.command('clients').description('OAuth clients and service accounts');
  withCommon(clients.command('list'))
    .description('list clients')
    .action(
      action(async (t) => {
        const res = (await identityApi(t, 'GET', '/admin/clients')) as {
          clients: { clientId: string; kind: string; name: string }[];
        };
        return {
          json: res,
          text: res.clients.map((c) => `${c.clientId.padEnd(28)} ${c.kind.padEnd(8)} ${c.name}`).join('\n'),
        };
      }),
    );
  withCommon(clients.command('create'))
    .description('register a client; prints its secret once')
    .argument('<name>')
    .requiredOption('--kind <kind>', 'web | public | service')
    .option('--redirect-uri <uri...>', 'exact redirect URIs (web, public)')
    .option('--post-logout-uri <uri...>', 'post-logout redirect URIs')
    .option('--role <role...>', 'roles of a service account')
    .option('--scope <scopes>', 'space-separated scopes the client may request')
    .option('--introspection', 'allow this client to call the introspection endpoint')
    .action(
      action(async (t, [name], o) => {
        const res = (await identityApi(t, 'POST', '/admin/clients', {
          name,
          kind: o['kind'],
          ...(o['redirectUri'] ? { redirectUris: o['redirectUri'] } : {}),
          ...(o['postLogoutUri'] ? { postLogoutRedirectUris: o['postLogoutUri'] } : {}),
          ...(o['role'] ? { roles: o['role'] } : {}),
          ...(o['scope'] ? { scope: o['scope'] } : {}),
          ...(o['introspection'] ? { introspection: true } : {}),
        })) as { clientId: string; clientSecret?: string };
        return {
          json: res,
          text: `client_id: ${res.clientId}${res.clientSecret ? `\nclient_secret: ${res.clientSecret} (shown once)` : ''}`,
        };
      }),
    );
  withCommon(clients.command('rotate-secret'))
    .description('issue a new client secret (the old one stops working)')
    .argument('<clientId>')
    .action(
      action(async (t, [id]) => {
        const res = (await identityApi(t, 'POST', `/admin/clients/${encodeURIComponent(id!)}/secret`)) as {
          clientSecret: string;
        };
        return { json: res, text: `client_secret: ${res.clientSecret} (shown once)` };
      }),
    );
  withCommon(clients.command('delete'))
    .description('delete a client')
    .argument('<clientId>')
    .action(
      action(async (t, [id]) => {
        await identityApi(t, 'DELETE', `/admin/clients/${encodeURIComponent(id!)}`);
        return { json: { deleted: id }, text: `deleted ${id}` };
      }),
    );
}
