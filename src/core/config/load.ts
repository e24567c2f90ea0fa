/**
 * Loads Bulwark's configuration: one YAML file, then `BULWARK_*` environment overrides, validated against
 * the JSON Schema with every problem reported at once, then checked for insecure combinations, resolved
 * and frozen. Nothing reads configuration any other way.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, type ConfigIssue } from '../errors.ts';
import { findInsecureSettings } from './insecure.ts';
import type { JsonSchema } from './schema.ts';
import type { BulwarkConfig } from './types.ts';

/** Variables read directly rather than mapped onto a key path (the CLI's admin token among them). */
const RESERVED_ENV = new Set(['BULWARK_HOME', 'BULWARK_CONFIG', 'BULWARK_GATEWAY_TOKEN']);

export interface LoadOptions {
  /** YAML file; omitted means "defaults only". */
  file?: string | undefined;
  /** Environment to read `BULWARK_*` overrides from (inject for tests). */
  env?: NodeJS.ProcessEnv;
  /** Directory relative paths are resolved against (defaults to the process's). */
  cwd?: string;
}

/** Result of {@link checkConfig}: every issue found; `config` is set only when there are none. */
export interface ConfigCheck {
  issues: ConfigIssue[];
  config?: BulwarkConfig;
}

/** Loads and validates, throwing a {@link ConfigError} that lists every problem. */
export function loadConfig(schema: JsonSchema, options: LoadOptions = {}): BulwarkConfig {
  const result = checkConfig(schema, options);
  if (!result.config) throw new ConfigError(result.issues);
  return result.config;
}

/** Loads and validates, returning all issues instead of throwing (used by `bulwark config check`). */
export function checkConfig(schema: JsonSchema, options: LoadOptions = {}): ConfigCheck {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const issues: ConfigIssue[] = [];

  let raw: unknown = {};
  if (options.file !== undefined) {
    const parsed = readYaml(resolve(cwd, options.file));
    if ('issues' in parsed) return { issues: parsed.issues };
    raw = parsed.value ?? {};
  }
  if (!isPlainObject(raw)) {
    return {
      issues: [
        {
          path: '(root)',
          message: 'expected a mapping of keys',
          fix: 'start the file with keys such as `mode: production`',
        },
      ],
    };
  }

  issues.push(...applyEnvOverrides(raw, schema, env));
  if (env['BULWARK_HOME']) raw['home'] = env['BULWARK_HOME'];

  const validate = compile(schema);
  if (!validate(raw)) issues.push(...(validate.errors ?? []).map((e) => describeAjvError(e, schema)));

  // Defaults are filled in even when validation failed, so the insecure-combination rules can run too and
  // the user sees every problem in one pass. A shape too broken for them is already reported above.
  const config = raw as unknown as BulwarkConfig;
  try {
    issues.push(
      ...findInsecureSettings(config).filter((i) => !issues.some((known) => known.path === i.path)),
    );
  } catch {
    // the schema errors already describe what is wrong
  }
  if (issues.length > 0) return { issues };
  config.home = isAbsolute(config.home) ? config.home : resolve(cwd, config.home);
  return { issues: [], config: deepFreeze(config) };
}

function readYaml(path: string): { value: unknown } | { issues: ConfigIssue[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason =
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : 'file cannot be read';
    return { issues: [{ path, message: reason, fix: 'pass the path of a readable YAML file' }] };
  }
  const lineCounter = new LineCounter();
  // uniqueKeys: a key written twice is an error, not "last one wins" (a classic config-injection trap).
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      issues: doc.errors.map((e) => {
        const at = lineCounter.linePos(e.pos[0]);
        return {
          path: `${path}:${at.line}:${at.col}`,
          message: `YAML syntax error (${e.code}): ${e.message.split('\n')[0]}`,
          fix: 'correct the YAML at that line (indentation with spaces, `key: value`, each key once)',
        };
      }),
    };
  }
  return { value: doc.toJS() };
}

function compile(schema: JsonSchema) {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true });
  ajv.addKeyword('x-default-doc');
  return ajv.compile(schema);
}

/**
 * `BULWARK_SERVER__LIMITS__BODY_BYTES=2048` sets `server.limits.bodyBytes`: `__` separates levels and a
 * level matches a key ignoring case and underscores. Values are YAML scalars (`true`, `42`, `[a, b]`).
 */
export function applyEnvOverrides(
  target: Record<string, unknown>,
  schema: JsonSchema,
  env: NodeJS.ProcessEnv,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('BULWARK_') || RESERVED_ENV.has(name) || value === undefined) continue;
    const segments = name.slice('BULWARK_'.length).split('__');
    const path: string[] = [];
    let node: JsonSchema | undefined = schema;
    for (const segment of segments) {
      const wanted = segment.replaceAll('_', '').toLowerCase();
      const key: string | undefined = Object.keys(node?.properties ?? {}).find(
        (k) => k.toLowerCase() === wanted,
      );
      if (!key) {
        node = undefined;
        break;
      }
      path.push(key);
      node = node!.properties![key];
    }
    if (!node) {
      issues.push({
        path: name,
        message: 'environment variable does not match any configuration key',
        fix: 'spell the key path in upper case with `__` between levels, e.g. BULWARK_LOG__LEVEL=debug',
      });
      continue;
    }
    setPath(target, path, parseEnvValue(value, node));
  }
  return issues;
}

function parseEnvValue(value: string, schema: JsonSchema): unknown {
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.includes('string') && !(value === 'null' && types.includes('null'))) return value;
  const doc = parseDocument(value);
  return doc.errors.length > 0 ? value : doc.toJS();
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isPlainObject(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

function describeAjvError(error: ErrorObject, schema: JsonSchema): ConfigIssue {
  const base = pointerToPath(error.instancePath);
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(error.params['additionalProperty']);
      const known = Object.keys(schemaAt(schema, error.schemaPath) ?? {});
      const guess = closest(key, known);
      return {
        path: join(base, key),
        message: 'unknown key',
        fix: guess
          ? `did you mean \`${guess}\`?`
          : `remove it; the keys allowed here are: ${known.join(', ') || 'none'}`,
      };
    }
    case 'type':
      return {
        path: base,
        message: `expected ${String(error.params['type']).replace(',', ' or ')}`,
        fix: `write a value of type ${String(error.params['type']).replace(',', ' or ')}`,
      };
    case 'enum':
      return {
        path: base,
        message: `expected one of ${(error.params['allowedValues'] as unknown[]).map(String).join(', ')}`,
        fix: `choose one of ${(error.params['allowedValues'] as unknown[]).map(String).join(', ')}`,
      };
    case 'minimum':
    case 'maximum':
    case 'minLength':
    case 'maxLength':
    case 'minItems':
    case 'pattern':
    case 'format':
      return {
        path: base,
        message: `value ${error.message ?? 'is out of range'}`,
        fix: 'change the value to one the rule allows',
      };
    default:
      return {
        path: base,
        message: error.message ?? 'invalid value',
        fix: 'see docs/configuration.md for this key',
      };
  }
}

/** Properties object of the schema node an `additionalProperties` error points at. */
function schemaAt(schema: JsonSchema, schemaPath: string): Record<string, JsonSchema> | undefined {
  const parts = schemaPath.replace(/^#\//, '').split('/').slice(0, -1);
  let node: unknown = schema;
  for (const p of parts) node = (node as Record<string, unknown> | undefined)?.[decodeURIComponent(p)];
  return (node as JsonSchema | undefined)?.properties;
}

function pointerToPath(pointer: string): string {
  if (pointer === '') return '(root)';
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
    .join('.');
}

function join(base: string, key: string): string {
  return base === '(root)' ? key : `${base}.${key}`;
}

/** The known key nearest to a misspelling (edit distance at most 1, or a third of its length). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
