#!/usr/bin/env node
// The `bulwark` command. Bulwark runs its TypeScript sources directly on Node.js 24 (type stripping), which
// package.json pins as a devDependency: `npx bulwark` and every `npm run` script use that Node.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `bulwark needs Node.js 24 or newer (this is ${process.version}). Run it as \`npx bulwark\` after \`npm install\`, which uses the pinned Node 24.\n`,
  );
  process.exit(1);
}
// Caches compiled (and type-stripped) modules on disk: every component is its own process, and loading
// the sources again for each one doubled the start time of `bulwark up`.
const { enableCompileCache } = await import('node:module');
enableCompileCache?.();
await import('../src/cli/main.ts');
