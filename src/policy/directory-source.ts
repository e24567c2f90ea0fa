/**
 * Reads a bundle from a directory: every `*.cedar` file below it (policies), `schema.cedarschema` at its
 * top (Bulwark's schema when absent) and `entities.json` at its top (the known entities). Paths are kept
 * relative, so an error names the file as the author sees it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import { arrayElementLines, type BundleSource, type SourceFile } from '../core/policy-engine/index.ts';
import { policyError } from './errors.ts';

export const SCHEMA_FILE = 'schema.cedarschema';
export const ENTITIES_FILE = 'entities.json';

/** Files below `dir` whose names end with `suffix`, as sorted relative paths with `/` separators. */
export function findFiles(dir: string, suffix: string): string[] {
  const out: string[] = [];
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && entry.name.endsWith(suffix))
        out.push(relative(dir, path).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

/** @example const source = readBundleDirectory('./policies'); engine.load(source); */
export function readBundleDirectory(dir: string): BundleSource {
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
  } catch (cause) {
    throw policyError('policy_directory_unreadable', `policy directory ${dir} cannot be read`, { cause });
  }
  const read = (file: string): SourceFile => ({ file, text: readFileSync(join(dir, file), 'utf8') });
  const policies = findFiles(dir, '.cedar').map(read);
  const top = new Set(readdirSync(dir));
  const schema = top.has(SCHEMA_FILE) ? read(SCHEMA_FILE) : undefined;
  let entities: { file: string; entities: EntityJson[]; lines: number[] } | undefined;
  if (top.has(ENTITIES_FILE)) {
    const { text } = read(ENTITIES_FILE);
    try {
      const parsed = JSON.parse(text) as unknown;
      if (!Array.isArray(parsed)) throw new Error('expected a JSON array of entities');
      entities = { file: ENTITIES_FILE, entities: parsed as EntityJson[], lines: arrayElementLines(text) };
    } catch (cause) {
      throw policyError('policy_bundle_invalid', `${ENTITIES_FILE}: ${(cause as Error).message}`, {
        cause,
        details: { issues: [{ file: ENTITIES_FILE, line: 0, column: 0, message: (cause as Error).message }] },
      });
    }
  }
  return { policies, ...(schema ? { schema } : {}), ...(entities ? { entities } : {}) };
}
