/**
 * `bulwark gateway ...`: the route file (decK-like `validate`, `diff`, `sync`, `export`), pushed token
 * revocations, and generators for API keys and admin tokens (only their SHA-256 goes into files). Offline
 * commands work on files; the others call the running gateway's admin API, found in
 * `<home>/run/state.json` (or `--url`), trusting `<home>/tls/ca.crt`, as the operator: under `bulwark up`
 * with the operator's SVID (no secret to handle), else with the admin token from `--token` or
 * `BULWARK_GATEWAY_TOKEN`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { Agent, request } from 'undici';
import { systemClock } from '../../core/index.ts';
import { parseRouteFile } from '../../gateway/index.ts';
import { printable } from '../../gateway/routes/route-file.ts';
import { RouteTable } from '../../gateway/routes/route-table.ts';
import { configFile, loadPlatformConfig } from '../config-file.ts';
import { hasOperatorCertificate, withOperatorCertificate } from '../operator-identity.ts';
import { readState } from '../runtime-state.ts';

type Out = NodeJS.WritableStream;

/** Checks a route file completely (schema, references, JSON Schemas, CIDRs, certificate files). */
export async function gatewayValidate(file: string, out: Out): Promise<number> {
  const parsed = parseRouteFile(readFileSync(file, 'utf8'));
  if (!parsed.ok) {
    out.write(`${file}: invalid\n`);
    for (const issue of parsed.issues) out.write(`  ✗ ${issue.path}: ${issue.message}\n`);
    return 1;
  }
  try {
    // Compiling builds what the gateway would run (no request is sent; limiters are stand-ins).
    const table = new RouteTable(parsed.document, systemClock, (_r, _i, spec) => ({
      spec,
      consume: async () => ({ allowed: true, remaining: spec.points, resetMs: 0 }),
    }));
    await Promise.all([...table.services.values()].map((s) => s.close()));
  } catch (err) {
    // Compiling reads the files the document names: their paths are the document's text too.
    out.write(`${file}: invalid\n  ✗ ${printable((err as Error).message, 500)}\n`);
    return 1;
  }
  const d = parsed.document;
  out.write(
    `${file}: valid, ${d.services.length} services, ${d.routes.length} routes, ${d.consumers?.length ?? 0} consumers\n`,
  );
  return 0;
}

/** A new API key for a consumer: the key is shown once; the file gets its hash. */
export function gatewayApiKey(name: string, out: Out): number {
  const key = `bwk_${randomBytes(32).toString('base64url')}`;
  out.write(`API key (shown once, give it to the client): ${key}\n`);
  out.write(
    `Add to the route file under consumers:\n  - name: ${name}\n    apiKeyHash: sha256:${sha256(key)}\n`,
  );
  return 0;
}

/** A new admin token: shown once; the configuration gets its hash and role. */
export function gatewayAdminToken(role: string, out: Out): number {
  if (role !== 'viewer' && role !== 'operator') {
    out.write('error: --role is viewer or operator\n');
    return 1;
  }
  const token = randomBytes(32).toString('base64url');
  out.write(`Admin token (shown once): ${token}\n`);
  out.write(`Add to components.gateway.adminTokens:\n  - sha256: ${sha256(token)}\n    role: ${role}\n`);
  return 0;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

interface RemoteOptions {
  url?: string;
  ca?: string;
  token?: string;
}

async function callAdmin(
  home: string,
  options: RemoteOptions,
  path: string,
  init: { method: 'GET' | 'POST' | 'PUT'; body?: unknown },
): Promise<{ status: number; text: string }> {
  const state = readState(home);
  const url = options.url ?? state?.components.find((c) => c.name === 'gateway')?.url ?? undefined;
  if (!url) throw new Error('the gateway is not running here; start it (`bulwark up`) or pass --url');
  const token = options.token ?? process.env['BULWARK_GATEWAY_TOKEN'];
  if (!token && !hasOperatorCertificate()) {
    throw new Error(
      'no operator certificate (is `bulwark up` running here?) and no admin token: pass --token or set BULWARK_GATEWAY_TOKEN',
    );
  }
  const caFile = options.ca ?? state?.caFile ?? join(home, 'tls', 'ca.crt');
  const dispatcher = new Agent({
    connect: withOperatorCertificate(existsSync(caFile) ? { ca: readFileSync(caFile, 'utf8') } : {}),
  });
  try {
    const res = await request(`${url}${path}`, {
      dispatcher,
      method: init.method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(init.body ? { 'content-type': 'application/json' } : {}),
      },
      ...(init.body ? { body: JSON.stringify(init.body) } : {}),
    });
    return { status: res.statusCode, text: await res.body.text() };
  } finally {
    await dispatcher.close();
  }
}

export function registerGatewayCommands(program: Command): void {
  const gateway = program
    .command('gateway')
    .description('route file, revocations, API keys and admin tokens of the gateway');
  const home = () => loadPlatformConfig(configFile(program.opts<{ config?: string }>().config)).home;
  const run = (work: () => Promise<number> | number) => async () => {
    try {
      process.exitCode = await work();
    } catch (err) {
      process.stderr.write(`error: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  };
  const remote = (cmd: Command) =>
    cmd
      .option('--url <url>', 'admin API URL (default: from the runtime state)')
      .option('--ca <file>', 'CA certificate to trust')
      .option(
        '--token <token>',
        'admin token (default: $BULWARK_GATEWAY_TOKEN; not needed under `bulwark up`, where the operator SVID carries the role)',
      );
  const report = (r: { status: number; text: string }) => {
    process.stdout.write(`${r.text}\n`);
    return r.status < 300 ? 0 : 1;
  };

  gateway
    .command('validate <file>')
    .description('check a route file offline (schema, references, schemas, CIDRs, certificates)')
    .action((file: string) => run(() => gatewayValidate(file, process.stdout))());
  remote(gateway.command('diff <file>').description('what sync would change in the running gateway')).action(
    (file: string, opts: RemoteOptions) =>
      run(async () =>
        report(
          await callAdmin(home(), opts, '/v1/gateway/routes/diff', {
            method: 'POST',
            body: { yaml: readFileSync(file, 'utf8') },
          }),
        ),
      )(),
  );
  remote(
    gateway
      .command('sync <file>')
      .description('apply a route file to the running gateway (and its route file)'),
  ).action((file: string, opts: RemoteOptions) =>
    run(async () =>
      report(
        await callAdmin(home(), opts, '/v1/gateway/routes', {
          method: 'PUT',
          body: { yaml: readFileSync(file, 'utf8') },
        }),
      ),
    )(),
  );
  remote(
    gateway
      .command('export')
      .description('print (or write with -o) the routes in force')
      .option('-o, --output <file>', 'write here'),
  ).action((opts: RemoteOptions & { output?: string }) =>
    run(async () => {
      const r = await callAdmin(home(), opts, '/v1/gateway/routes', { method: 'GET' });
      if (r.status >= 300) return report(r);
      if (opts.output) writeFileSync(opts.output, r.text);
      else process.stdout.write(r.text);
      return 0;
    })(),
  );
  remote(
    gateway
      .command('revoke <jti>')
      .description('refuse a token id until it expires')
      .requiredOption('--exp <seconds>', 'token expiry, seconds since the epoch'),
  ).action((jti: string, opts: RemoteOptions & { exp: string }) =>
    run(async () =>
      report(
        await callAdmin(home(), opts, '/v1/gateway/revocations', {
          method: 'POST',
          body: { jti, exp: Number(opts.exp) },
        }),
      ),
    )(),
  );
  gateway
    .command('api-key <consumer>')
    .description('generate an API key and the consumer entry holding its hash')
    .action((name: string) => run(() => gatewayApiKey(name, process.stdout))());
  gateway
    .command('admin-token')
    .description('generate an admin API token and the config entry holding its hash')
    .option('--role <role>', 'viewer or operator', 'viewer')
    .action((opts: { role: string }) => run(() => gatewayAdminToken(opts.role, process.stdout))());
}
