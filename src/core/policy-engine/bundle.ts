/**
 * A policy bundle: the policies, schema and known entities that one version of the policy set consists of,
 * and its compilation. Compiling checks everything a decision will rely on (policy syntax, the schema, every
 * policy against the schema in strict mode, the entities against the schema) and names the file, line and
 * problem of each failure; only a bundle with no issue can be applied, so a bad bundle never replaces a
 * good one.
 */
import { createHash } from 'node:crypto';
import {
  checkParseEntities,
  checkParseSchema,
  type DetailedError,
  type EntityJson,
  type PolicyJson,
  policySetTextToParts,
  policyToJson,
  validate,
} from '@cedar-policy/cedar-wasm/nodejs';
import { canonicalJson } from './canonical.ts';
import { type BundleIssue, policyEngineError } from './errors.ts';
import { BULWARK_SCHEMA, BULWARK_SCHEMA_FILE } from './schema.ts';
import { byteOffsetOf, positionOf } from './source-location.ts';

export interface SourceFile {
  /** Relative path, used in error messages and in generated policy ids. */
  file: string;
  text: string;
}

/** What a bundle is made of, as files. */
export interface BundleSource {
  policies: readonly SourceFile[];
  /** Cedar schema text; Bulwark's own schema when absent. */
  schema?: SourceFile;
  /** Entities the analysis can enumerate and decisions can use (Cedar JSON entity format). */
  entities?: {
    file: string;
    entities: readonly EntityJson[];
    /** Line of each entity in its file, when read from text (for error positions; not part of the hash). */
    lines?: readonly number[];
  };
}

export interface PolicyInfo {
  /** The `@id("...")` annotation, or `<file>#<n>` (n counts policies in the file from 1). */
  id: string;
  file: string;
  line: number;
  effect: 'permit' | 'forbid';
  text: string;
}

/** A bundle that passed every check; what an engine applies. */
export interface CompiledBundle {
  /** `sha256:<hex>` of the canonical source: the bundle's identity and its HTTP ETag. */
  hash: string;
  source: BundleSource;
  schemaText: string;
  policies: readonly PolicyInfo[];
  entities: readonly EntityJson[];
  /** Validator warnings (e.g. a policy that can never apply); they do not block the bundle. */
  warnings: readonly BundleIssue[];
  /** Each policy's JSON form by id, parsed once here for the engine's indexes. */
  parsed: ReadonlyMap<string, PolicyJson | undefined>;
}

/** The content hash of a bundle source (files sorted by name, so order does not matter). */
export function bundleHash(source: BundleSource): string {
  const policies = [...source.policies].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  const digest = createHash('sha256')
    .update(
      canonicalJson({
        policies,
        schema: source.schema ?? null,
        entities: source.entities ? { file: source.entities.file, entities: source.entities.entities } : null,
      }),
    )
    .digest('hex');
  return `sha256:${digest}`;
}

/**
 * Checks a bundle and returns it compiled, or throws `policy_bundle_invalid` whose `details.issues` lists
 * every problem found (not only the first).
 *
 * @example
 * const bundle = compileBundle({ policies: [{ file: 'rbac.cedar', text }] });
 * engine.apply(bundle);
 */
export function compileBundle(source: BundleSource): CompiledBundle {
  const issues: BundleIssue[] = [];
  const schema = source.schema ?? { file: BULWARK_SCHEMA_FILE, text: BULWARK_SCHEMA };
  const schemaParse = checkParseSchema(schema.text);
  if (schemaParse.type === 'failure') issues.push(...schemaParse.errors.map((e) => toIssue(schema, 0, e)));

  const policies = splitPolicies(source.policies, issues);
  const byId = new Map(policies.map((p) => [p.id, p]));
  const warnings: BundleIssue[] = [];
  if (issues.length === 0) {
    const answer = validate({
      schema: schema.text,
      policies: { staticPolicies: Object.fromEntries(policies.map((p) => [p.id, p.text])) },
      validationSettings: { mode: 'strict' },
    });
    if (answer.type === 'failure') {
      issues.push(...answer.errors.map((e) => toIssue(schema, 0, e)));
    } else {
      for (const { policyId, error } of answer.validationErrors) {
        issues.push(policyIssue(byId.get(policyId), policyId, error));
      }
      for (const { policyId, error } of answer.validationWarnings) {
        warnings.push(policyIssue(byId.get(policyId), policyId, error));
      }
    }
  }
  const entities = source.entities?.entities ?? [];
  if (source.entities && schemaParse.type === 'success') {
    issues.push(...entityIssues(source.entities, schema.text));
  }
  if (issues.length > 0) {
    throw policyEngineError(
      'policy_bundle_invalid',
      `the policy bundle has ${issues.length} problem${issues.length === 1 ? '' : 's'}`,
      { details: { issues } },
    );
  }
  const infos = policies.map(({ id, file, line, effect, text }) => ({ id, file, line, effect, text }));
  const parsed = new Map(policies.map((p) => [p.id, p.json] as const));
  return {
    hash: bundleHash(source),
    source,
    schemaText: schema.text,
    policies: infos,
    entities,
    warnings,
    parsed,
  };
}

/** Checks the entities; on failure checks them one by one so each issue points at its entity. */
function entityIssues(source: NonNullable<BundleSource['entities']>, schema: string): BundleIssue[] {
  const all = checkParseEntities({ entities: source.entities as EntityJson[], schema });
  if (all.type === 'success') return [];
  const issues: BundleIssue[] = [];
  source.entities.forEach((entity, index) => {
    const one = checkParseEntities({ entities: [entity], schema });
    if (one.type === 'failure') {
      const line = source.lines?.[index] ?? 0;
      for (const error of one.errors) {
        issues.push({
          file: source.file,
          line,
          column: line ? 1 : 0,
          message: `entity ${index + 1}: ${error.message}`,
        });
      }
    }
  });
  // Problems only visible together (e.g. the same uid twice) get the whole-set message.
  if (issues.length === 0) {
    for (const error of all.errors)
      issues.push({ file: source.file, line: 0, column: 0, message: error.message });
  }
  return issues;
}

/** Line where each element of a top-level JSON array starts (a small scanner: strings and nesting only). */
export function arrayElementLines(text: string): number[] {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let expectElement = false;
  for (const ch of text) {
    if (ch === '\n') line++;
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
      continue;
    }
    if (depth === 1 && expectElement && !/\s/.test(ch) && ch !== ']') {
      lines.push(line);
      expectElement = false;
    }
    if (ch === '"') inString = true;
    else if (ch === '[' || ch === '{') {
      depth++;
      if (depth === 1) expectElement = true;
    } else if (ch === ']' || ch === '}') depth--;
    else if (ch === ',' && depth === 1) expectElement = true;
  }
  return lines;
}

interface LocatedPolicy extends PolicyInfo {
  /** Byte offset of the policy text in its file. */
  offset: number;
  json: PolicyJson | undefined;
  fileText: string;
}

function splitPolicies(files: readonly SourceFile[], issues: BundleIssue[]): LocatedPolicy[] {
  const out: LocatedPolicy[] = [];
  const seen = new Map<string, string>();
  for (const source of files) {
    const parts = policySetTextToParts(source.text);
    if (parts.type === 'failure') {
      issues.push(...parts.errors.map((e) => toIssue(source, 0, e)));
      continue;
    }
    if (parts.policy_templates.length > 0) {
      issues.push({
        file: source.file,
        line: 0,
        column: 0,
        message: 'policy templates (?principal, ?resource slots) are not supported in bundles',
      });
    }
    let cursor = 0;
    parts.policies.forEach((text, index) => {
      // Parts are slices of the file in order; find each to turn its offsets into file positions.
      const at = source.text.indexOf(text, cursor);
      const charIndex = at >= 0 ? at : cursor;
      cursor = charIndex + (at >= 0 ? text.length : 0);
      const offset = byteOffsetOf(source.text, charIndex);
      const json = policyToJson(text);
      const annotated = json.type === 'success' ? json.json.annotations?.['id'] : undefined;
      const id = annotated ?? `${source.file}#${index + 1}`;
      const { line } = positionOf(source.text, offset);
      const previous = seen.get(id);
      if (previous !== undefined) {
        issues.push({
          file: source.file,
          line,
          column: 1,
          message: `duplicate policy id ${id} (also in ${previous})`,
        });
      }
      seen.set(id, source.file);
      const effect = json.type === 'success' ? json.json.effect : 'permit';
      out.push({
        id,
        file: source.file,
        line,
        effect,
        text,
        offset,
        fileText: source.text,
        json: json.type === 'success' ? json.json : undefined,
      });
    });
  }
  return out;
}

function policyIssue(policy: LocatedPolicy | undefined, policyId: string, error: DetailedError): BundleIssue {
  if (!policy) return { ...toIssue({ file: '(bundle)', text: '' }, 0, error), policyId };
  return { ...toIssue({ file: policy.file, text: policy.fileText }, policy.offset, error), policyId };
}

function toIssue(source: SourceFile, baseOffset: number, error: DetailedError): BundleIssue {
  const at = error.sourceLocations?.[0];
  const position =
    at && source.text ? positionOf(source.text, baseOffset + at.start) : { line: 0, column: 0 };
  const detail = at?.label ? `${error.message}: ${at.label}` : error.message;
  return {
    file: source.file,
    ...position,
    message: detail,
    ...(error.help ? { help: error.help } : {}),
  };
}
