import { readFileSync } from 'node:fs';

/** Bulwark's version, from package.json (one source of truth for the CLI, metrics and docs). */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
