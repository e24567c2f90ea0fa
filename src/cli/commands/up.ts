/**
 * `bulwark up`: every enabled component as its own supervised process on this machine, a summary of what
 * runs where, and a clean stop of all of them on Ctrl-C or SIGTERM.
 */
import { fileURLToPath } from 'node:url';
import { insecureSettings } from '../../core/config/insecure.ts';
import { type BulwarkConfig, ensureLocalCa, systemClock } from '../../core/index.ts';
import { COMPONENTS } from '../components.ts';
import { removeState, writeState } from '../runtime-state.ts';
import { type ChildState, Supervisor } from '../supervisor.ts';

const ENTRY = fileURLToPath(new URL('../../../bin/bulwark.js', import.meta.url));

export async function up(
  config: BulwarkConfig,
  configPath: string | undefined,
  out: NodeJS.WritableStream,
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
  // Components start in order, audit first; the ones after it learn its URL (unless it is configured).
  let auditUrl: string | null = config.auditClient.url;
  const env = (): NodeJS.ProcessEnv => ({
    ...process.env,
    BULWARK_HOME: config.home,
    ...(auditUrl && !config.auditClient.url ? { BULWARK_AUDIT_CLIENT__URL: auditUrl } : {}),
  });
  const supervisor = new Supervisor(
    // audit first (the others write to it from their first moment), then the rest together.
    enabled.map((c) => ({
      name: c.name,
      module: ENTRY,
      args: args(c.name),
      env,
      stage: c.name === 'audit' ? 0 : 1,
    })),
    config.supervisor,
    systemClock,
  );
  supervisor.on('ready', (child) => {
    if (child.name === 'audit' && !config.auditClient.url) auditUrl = child.url;
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
    await supervisor.start();
  } catch (err) {
    out.write(`Start failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await stop();
    return 1;
  }
  out.write(summary(supervisor.snapshot(), caFile));
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
    caFile ? `  TLS: certificates from the local CA ${caFile}` : '  TLS: off (development mode)',
    '  `npx bulwark status` shows health; Ctrl-C stops everything.',
    '',
  ].join('\n');
}
