/**
 * `bulwark up`: every enabled component as its own supervised process on this machine, a summary of what
 * runs where, and a clean stop of all of them on Ctrl-C or SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { adminTokenPath } from '../../authority/paths.ts';
import { insecureSettings } from '../../core/config/insecure.ts';
import {
  type BulwarkConfig,
  ensureLocalCa,
  JOIN_TOKEN_ENV,
  serverHosts,
  systemClock,
} from '../../core/index.ts';
import { COMPONENTS } from '../components.ts';
import { clinicDemo } from '../demo.ts';
import { removeState, writeState } from '../runtime-state.ts';
import { type ChildState, Supervisor } from '../supervisor.ts';
import { authorityAdminCall } from './authority.ts';

const ENTRY = fileURLToPath(new URL('../../../bin/bulwark.js', import.meta.url));

export async function up(
  config: BulwarkConfig,
  configPath: string | undefined,
  out: NodeJS.WritableStream,
  options: { demo?: boolean } = {},
): Promise<number> {
  if (config.mode === 'development') {
    for (const issue of insecureSettings(config))
      out.write(`warning (development mode): ${issue.path}: ${issue.message}\n`);
  }
  const caFile = config.server.tls.enabled
    ? (config.server.tls.caFile ?? (config.server.tls.certFile ? null : await ensureLocalCa(config.home)))
    : null;
  const enabled = COMPONENTS.filter((c) => config.components[c.name]?.enabled !== false);
  if (enabled.length === 0) {
    out.write('No components are installed in this build yet: nothing to run.\n');
    return 0;
  }
  const args = (name: string) => ['run', name, ...(configPath ? ['--config', configPath] : [])];
  // Components start in order: authority (the mesh CA), then audit, then the rest; the later ones learn
  // the URLs of the earlier ones (unless configured).
  let auditUrl: string | null = config.auditClient.url;
  let authorityUrl: string | null = null;
  const meshed = caFile !== null && enabled.some((c) => c.name === 'authority');
  const env = async (name: string): Promise<NodeJS.ProcessEnv> => ({
    ...withoutOthersSecrets(process.env, name, config),
    BULWARK_HOME: config.home,
    ...(auditUrl && !config.auditClient.url ? { BULWARK_AUDIT_CLIENT__URL: auditUrl } : {}),
    // Every listener serves an SVID here, so the local root key need not stay on disk.
    ...(meshed && name === 'authority' ? { BULWARK_COMPONENTS__AUTHORITY__SEAL_LOCAL_ROOT: 'true' } : {}),
    // Every component but the CA itself joins the mesh with a fresh one-time token at each (re)start.
    ...(meshed && authorityUrl && name !== 'authority'
      ? {
          BULWARK_MESH__AUTHORITY_URL: authorityUrl,
          [JOIN_TOKEN_ENV]: await mintJoinToken(config, authorityUrl, caFile, name),
        }
      : {}),
  });
  // keys before identity, which seals its secrets through it; audit and keys reach each other lazily.
  const stages: Record<string, number> = meshed ? { authority: 0, audit: 1, keys: 1 } : { audit: 0 };
  if (options.demo && (!meshed || !caFile)) {
    out.write('The demo needs TLS and the authority component: enable them, or run `bulwark up` alone.\n');
    return 1;
  }
  const demo =
    options.demo && caFile
      ? clinicDemo({
          home: config.home,
          caFile,
          entry: ENTRY,
          urlOf: (name) => supervisor.snapshot().find((c) => c.name === name)?.url ?? undefined,
          configuredUrl: (name) => `https://${config.server.host}:${config.components[name]?.port ?? 0}`,
          mintJoinToken: (service) => mintJoinToken(config, authorityUrl ?? '', caFile, service),
        })
      : undefined;
  const supervisor: Supervisor = new Supervisor(
    [
      ...enabled.map((c) => ({
        name: c.name,
        module: ENTRY,
        args: args(c.name),
        env: () => env(c.name),
        stage: stages[c.name] ?? 2,
        // Loading a component's code is most of its start: later stages load while earlier ones start.
        preload: true,
        // Its initial environment stays in /proc/<pid>/environ: without other components' secrets too.
        preloadEnv: withoutOthersSecrets(process.env, c.name, config),
      })),
      ...(demo?.specs ?? []),
    ],
    config.supervisor,
    systemClock,
  );
  supervisor.on('ready', (child) => {
    if (child.name === 'audit' && !config.auditClient.url) auditUrl = child.url;
    if (child.name === 'authority') authorityUrl = child.url;
  });
  const startedAt = new Date().toISOString();
  const save = (components: ChildState[]) =>
    writeState({ supervisorPid: process.pid, startedAt, home: config.home, caFile, components });
  supervisor.on('change', save);
  supervisor.on('exit', (child) => {
    if (child.status !== 'stopping') {
      out.write(
        `${child.name} exited (code ${child.lastExit?.code}, signal ${child.lastExit?.signal}); restarting\n`,
      );
    }
  });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      out.write('\nStopping Bulwark...\n');
      await supervisor.stop();
      removeState(config.home);
      out.write('All components stopped.\n');
    })();
    return stopping;
  };
  const done = new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
      process.once(signal, () => stop().then(resolve));
  });

  out.write(`Bulwark is starting (mode ${config.mode}, data in ${config.home})...\n`);
  try {
    await supervisor.start(demo ? { beforeStage: (stage) => demo.beforeStage(stage) } : {});
  } catch (err) {
    out.write(`Start failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await stop();
    return 1;
  }
  const started = supervisor.snapshot();
  out.write(summary(started, caFile));
  if (demo) {
    const gateway = started.find((c) => c.name === 'gateway');
    const identity = started.find((c) => c.name === 'identity');
    out.write(demo.summary(gateway?.endpoints?.['public'] ?? '-', identity?.url ?? '-'));
  }
  await done;
  return 0;
}

export function summary(children: ChildState[], caFile: string | null): string {
  const width = Math.max(...children.map((c) => c.name.length), 9);
  const lines = children.flatMap((c) => [
    `  ${c.name.padEnd(width)}  ${c.status.padEnd(8)}  ${String(c.pid).padEnd(7)}  ${c.url ?? '-'}`,
    ...Object.entries(c.endpoints ?? {}).map(([name, url]) => `  ${''.padEnd(width + 21)}  ${name}: ${url}`),
  ]);
  return [
    '',
    `  ${'component'.padEnd(width)}  status    pid      url`,
    ...lines,
    '',
    caFile
      ? `  mTLS: every component serves an SVID from authority; trust root ${caFile}`
      : '  TLS: off (development mode)',
    '  `npx bulwark status` shows health; Ctrl-C stops everything.',
    '',
  ].join('\n');
}

/** A one-time join token for a component, with the host names its listener serves on. */
async function mintJoinToken(
  config: BulwarkConfig,
  authorityUrl: string,
  caFile: string,
  name: string,
): Promise<string> {
  const grant = (await authorityAdminCall(
    {
      url: authorityUrl,
      ca: readFileSync(caFile, 'utf8'),
      token: readFileSync(adminTokenPath(config.home), 'utf8').trim(),
    },
    'POST',
    '/v1/join-tokens',
    // Short-lived: the child redeems it within a second or two of its start.
    { service: name, hosts: serverHosts(config), ttlSeconds: 120 },
  )) as { token: string };
  return grant.token;
}

/**
 * The supervisor's environment less the secrets meant for other components: the master key of `keys`
 * (held by keys, and by authority, whose CA keys it seals) and each component's own key passphrase. A
 * compromised gateway then holds none of them.
 */
export function withoutOthersSecrets(
  env: NodeJS.ProcessEnv,
  name: string,
  config: { components: Record<string, Record<string, unknown> | undefined> },
): NodeJS.ProcessEnv {
  const out = { ...env };
  const master = config.components['keys']?.['master'] as
    | { envVar?: string; passphraseEnvVar?: string }
    | undefined;
  if (name !== 'keys' && name !== 'authority') {
    delete out[master?.envVar ?? 'KEYS_MASTER_KEY'];
    delete out[master?.passphraseEnvVar ?? 'KEYS_MASTER_PASSPHRASE'];
  }
  const own = `BULWARK_COMPONENTS__${name.toUpperCase()}__`;
  for (const key of Object.keys(out)) {
    if (/^BULWARK_COMPONENTS__[A-Z0-9_]+__KEY_PASSPHRASE$/.test(key) && !key.startsWith(own)) delete out[key];
  }
  return out;
}
