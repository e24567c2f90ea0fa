/**
 * `bulwark authority ...`: operator commands over authority's admin API (join tokens, revocation, CA
 * rotation, trust bundle). The URL and CA come from the running platform (`<home>/run/state.json`,
 * `<home>/tls/ca.crt`) and the admin token from `<home>/authority/admin.token` (0600), unless given.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Agent, request } from 'undici';
import { adminTokenPath } from '../../authority/paths.ts';
import { BulwarkError, coreError } from '../../core/index.ts';
import { componentServerCheck } from '../../core/mtls/index.ts';
import { configFile, loadPlatformConfig } from '../config-file.ts';
import { readState } from '../runtime-state.ts';

interface ConnectionOptions {
  url?: string;
  ca?: string;
  tokenFile?: string;
  json?: boolean;
}

export interface Connection {
  url: string;
  ca: string | undefined;
  token: string;
}

function connection(program: Command, options: ConnectionOptions): Connection {
  const config = loadPlatformConfig(configFile(program.opts<{ config?: string }>().config));
  let url = options.url;
  let ca = options.ca ? readFileSync(options.ca, 'utf8') : undefined;
  if (!url) {
    const state = readState(config.home);
    const authority = state?.components.find((c) => c.name === 'authority');
    if (!authority?.url)
      throw coreError('upstream_unavailable', 'authority is not running here; start it or pass --url');
    url = authority.url;
    if (!ca && state?.caFile) ca = readFileSync(state.caFile, 'utf8');
  }
  const token = readFileSync(options.tokenFile ?? adminTokenPath(config.home), 'utf8').trim();
  return { url, ca, token };
}

/** One admin call to the authority (admin token as bearer); throws the authority's problem as an error. */
export async function authorityAdminCall(
  conn: Connection,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<unknown> {
  // The admin token goes only to the authority's own SVID, not to any certificate naming its host.
  const dispatcher = new Agent({
    connect: {
      ...(conn.ca ? { ca: conn.ca } : {}),
      checkServerIdentity: componentServerCheck('authority', true),
    },
  });
  try {
    const res = await request(`${conn.url}${path}`, {
      method,
      dispatcher,
      headers: {
        authorization: `Bearer ${conn.token}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await res.body.json()) as { code?: string; detail?: string };
    if (res.statusCode >= 400) {
      throw new BulwarkError(
        {
          code: json.code ?? 'internal',
          status: res.statusCode,
          title: 'authority refused',
          doc: 'authority',
        },
        json.detail ?? `authority answered ${res.statusCode}`,
      );
    }
    return json;
  } finally {
    await dispatcher.close();
  }
}

function withConnection(command: Command): Command {
  return command
    .option('--url <url>', 'authority base URL (default: from the running platform)')
    .option('--ca <file>', 'CA certificate PEM (default: the platform CA)')
    .option('--token-file <file>', 'admin token file (default: <home>/authority/admin.token)')
    .option('--json', 'print JSON');
}

export function registerAuthorityCommands(program: Command): void {
  const authority = program
    .command('authority')
    .description('the mesh CA: join tokens, revocation, CA rotation');

  withConnection(
    authority
      .command('join-token')
      .description('create a one-time join token with which a workload obtains the SVID of SERVICE')
      .argument('<service>', 'service name; the SVID will be spiffe://<trust domain>/service/<service>')
      .option('--ttl <seconds>', 'how long the token stays usable', (v) => Number.parseInt(v, 10))
      .option(
        '--host <name...>',
        'DNS names / IP addresses the workload serves on, added to its SVID (for clients that check host names)',
      ),
  ).action(async (service: string, options: ConnectionOptions & { ttl?: number; host?: string[] }) => {
    const grant = (await authorityAdminCall(connection(program, options), 'POST', '/v1/join-tokens', {
      service,
      ...(options.ttl ? { ttlSeconds: options.ttl } : {}),
      ...(options.host?.length ? { hosts: options.host } : {}),
    })) as { token: string; spiffeId: string; expiresAt: string };
    process.stdout.write(
      options.json
        ? `${JSON.stringify(grant, null, 2)}\n`
        : `${grant.token}\n# one-time token for ${grant.spiffeId}, valid until ${grant.expiresAt}\n`,
    );
  });

  withConnection(
    authority
      .command('revoke')
      .description('revoke every live SVID of a workload; sidecars and SDKs refuse it within seconds')
      .argument('<spiffe-id>', 'e.g. spiffe://bulwark.local/service/orders')
      .option('--reason <text>', 'recorded in the audit log', 'unspecified'),
  ).action(async (spiffeId: string, options: ConnectionOptions & { reason: string }) => {
    const out = (await authorityAdminCall(connection(program, options), 'POST', '/v1/revocations', {
      spiffeId,
      reason: options.reason,
    })) as {
      revoked: string[];
    };
    process.stdout.write(
      options.json
        ? `${JSON.stringify(out, null, 2)}\n`
        : `revoked ${out.revoked.length} SVID(s) of ${spiffeId}\n`,
    );
  });

  withConnection(
    authority
      .command('rotate')
      .description(
        'one step of a CA rotation: prepare (publish new root), activate (sign with it), retire (drop old)',
      )
      .argument('<phase>', 'prepare | activate | retire'),
  ).action(async (phase: string, options: ConnectionOptions) => {
    if (!['prepare', 'activate', 'retire'].includes(phase))
      throw coreError('invalid_request', 'phase is prepare, activate or retire');
    const out = await authorityAdminCall(connection(program, options), 'POST', '/v1/rotation', { phase });
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  });

  withConnection(
    authority.command('ca').description('list the CA certificates and their rotation state'),
  ).action(async (options: ConnectionOptions) => {
    process.stdout.write(
      `${JSON.stringify(await authorityAdminCall(connection(program, options), 'GET', '/v1/rotation'), null, 2)}\n`,
    );
  });

  withConnection(
    authority.command('bundle').description('print the trust bundle (SPIFFE bundle, JWKS form)'),
  ).action(async (options: ConnectionOptions) => {
    process.stdout.write(
      `${JSON.stringify(await authorityAdminCall(connection(program, options), 'GET', '/v1/bundle'), null, 2)}\n`,
    );
  });
}
