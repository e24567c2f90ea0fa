// Runs every benchmark under bench/ one after another (never in parallel: the machine has 2 cores), or only
// those whose path contains the first argument: `npm run bench -- audit`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filter = process.argv[2] ?? '';
const files = readdirSync(join(root, 'bench'), { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.bench.ts') && f.includes(filter))
  .sort();
if (files.length === 0) {
  process.stderr.write(`no benchmark matches "${filter}"\n`);
  process.exit(1);
}
let failed = 0;
for (const file of files) {
  process.stdout.write(`\n== ${relative(root, join(root, 'bench', file))}\n`);
  const { status } = spawnSync(process.execPath, [join(root, 'bench', file)], { stdio: 'inherit' });
  if (status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
