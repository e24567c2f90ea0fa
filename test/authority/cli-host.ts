/** Runs the mesh CLI commands the way `bulwark` will once the lead wires them into main.ts. */
import { Command } from 'commander';
import { registerAuthorityCommands } from '../../src/cli/commands/authority.ts';
import { registerSidecarCommands } from '../../src/cli/commands/sidecar.ts';
import { BulwarkError } from '../../src/core/index.ts';

const program = new Command().name('bulwark').option('-c, --config <file>').exitOverride();
registerAuthorityCommands(program);
registerSidecarCommands(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof BulwarkError) {
    process.stderr.write(`error ${err.code}: ${err.message}\n`);
    process.exitCode = 1;
  } else throw err;
}
