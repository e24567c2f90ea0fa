/** Runs `bulwark keys ...` with only the keys commands registered (main.ts is wired by the lead). */
import { Command } from 'commander';
import { registerKeysCommands } from '../../src/cli/commands/keys.ts';

const program = new Command().name('bulwark').option('-c, --config <file>').exitOverride();
registerKeysCommands(program);
await program.parseAsync(process.argv);
