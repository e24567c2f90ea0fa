/**
 * The `bulwark` command line. Each command is a thin layer over a module in ./commands; they print for
 * people by default and `--json` where a script reads the output.
 */
import { Command, CommanderError } from 'commander';
import { BulwarkError, ConfigError, VERSION } from '../core/index.ts';
import { configFile, loadPlatformConfig } from './config-file.ts';

// Every component runs as a `bulwark` process, so a command loads only its own modules: `bulwark run
// audit` does not load the gateway, and starting the platform takes half the CPU it did.
type Register = (program: Command) => void;
const GROUPS: Record<string, () => Promise<Register>> = {
  audit: async () => (await import('./commands/audit.ts')).registerAuditCommands,
  authority: async () => (await import('./commands/authority.ts')).registerAuthorityCommands,
  identity: async () => (await import('./commands/identity.ts')).registerIdentityCommands,
  gateway: async () => (await import('./commands/gateway.ts')).registerGatewayCommands,
  policy: async () => (await import('./commands/policy.ts')).registerPolicyCommands,
  keys: async () => (await import('./commands/keys.ts')).registerKeysCommands,
  sidecar: async () => (await import('./commands/sidecar.ts')).registerSidecarCommands,
};

/** The command named on the command line (after the global `-c FILE`), if any. */
function requestedCommand(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-c' || arg === '--config') i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

const program = new Command()
  .name('bulwark')
  .description(
    'Bulwark: zero-trust security for microservices (gateway, identity, policy, mesh, keys, audit).',
  )
  .version(`bulwark ${VERSION}`, '-v, --version', 'print the version')
  .option('-c, --config <file>', 'configuration file (default: $BULWARK_CONFIG or ./bulwark.yaml)')
  .showHelpAfterError()
  .exitOverride();

const globalConfig = () => configFile(program.opts<{ config?: string }>().config);
/** The commands defined in this file. */
const INLINE = new Set(['up', 'status', 'run', 'config', 'version', 'help']);

program
  .command('up')
  .description('start every enabled component on this machine, supervised (Ctrl-C stops them all)')
  .option(
    '--demo',
    'also run the clinic example (examples/clinic) behind the platform, seeded with demo users',
  )
  .action(async (options: { demo?: boolean }) => {
    let file = globalConfig();
    if (options.demo) {
      const { writeDemoConfig } = await import('./demo.ts');
      file = writeDemoConfig(loadPlatformConfig(file).home, file);
    }
    const { up } = await import('./commands/up.ts');
    process.exitCode = await up(loadPlatformConfig(file), file, process.stdout, {
      demo: options.demo ?? false,
    });
  });

program
  .command('status')
  .description('list the running components with their URLs and health')
  .option('--json', 'print JSON for scripts')
  .action(async (options: { json?: boolean }) => {
    const { collectStatus, formatStatus } = await import('./commands/status.ts');
    const status = await collectStatus(loadPlatformConfig(globalConfig()));
    process.stdout.write(options.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
    process.exitCode = status.running ? 0 : 3;
  });

program
  .command('run')
  .description(
    'run one component in the foreground (what `up` does for each; the command of a cluster deployment)',
  )
  .argument('<component>', 'component name')
  .action(async (name: string) => {
    const { awaitRelease, run } = await import('./commands/run.ts');
    await awaitRelease();
    await run(name, loadPlatformConfig(globalConfig()), process.stdout);
  });

const config = program.command('config').description('work with configuration files');
config
  .command('check')
  .description('validate a configuration file and print every problem with its fix')
  .argument('<file>', 'YAML file to check')
  .action(async (file: string) => {
    const { configCheck } = await import('./commands/config-check.ts');
    process.exitCode = configCheck(file, process.stdout);
  });

const requested = requestedCommand(process.argv.slice(2));
// Help, or a command we do not know: register all, so that help lists them and errors suggest them.
for (const [name, load] of Object.entries(GROUPS)) {
  if (requested === undefined || requested === name || !(requested in GROUPS || INLINE.has(requested)))
    (await load())(program);
}

// Commands that call components present the operator's SVID (components serve only mTLS under `up`).
const CALLS_COMPONENTS = new Set(['audit', 'keys', 'gateway', 'identity', 'status']);
program.hook('preAction', async (_program, action) => {
  let top = action;
  while (top.parent && top.parent !== program) top = top.parent;
  if (!CALLS_COMPONENTS.has(top.name())) return;
  const home = loadPlatformConfig(configFile(program.opts<{ config?: string }>().config)).home;
  try {
    const { prepareOperatorIdentity } = await import('./operator-identity.ts');
    await prepareOperatorIdentity(home);
  } catch (err) {
    process.stderr.write(
      `warning: no operator certificate (${err instanceof Error ? err.message : String(err)}); components serving mTLS will refuse this call\n`,
    );
  }
});

program
  .command('version')
  .description('print the version of Bulwark and of the Node.js running it')
  .action(() => {
    process.stdout.write(`bulwark ${VERSION} (node ${process.version})\n`);
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
  } else if (err instanceof ConfigError) {
    process.stderr.write(
      `Configuration problems:\n${err.issues.map((i) => `  ✗ ${i.path}: ${i.message}\n      fix: ${i.fix}`).join('\n')}\n`,
    );
    process.exitCode = 1;
  } else if (err instanceof BulwarkError) {
    process.stderr.write(`error ${err.code}: ${err.message}\n`);
    process.exitCode = 1;
  } else {
    throw err;
  }
}
