/**
 * Per-route request schemas compiled with ajv (JSON Schema 2020-12 subset, as in OpenAPI 3.1): path
 * params, query, headers and body. Strings from the URL and headers are coerced to the schema's types;
 * the body is not. Errors name the field (sanitised JSON pointer) and never carry the input's value.
 * Trusts: schemas from the route file (operator input, compiled once at load).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import safeRegex from 'safe-regex2';
import type { ValidationSpec } from '../routes/route-file.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const strings = addFormats(new Ajv({ allErrors: false, strict: false, coerceTypes: 'array' }));
const json = addFormats(new Ajv({ allErrors: false, strict: false, coerceTypes: false }));

export interface CompiledValidation {
  params: ValidateFunction | undefined;
  query: ValidateFunction | undefined;
  headers: ValidateFunction | undefined;
  body: ValidateFunction | undefined;
  contentTypes: ReadonlySet<string> | undefined;
  maxBodyBytes: number | undefined;
  maxJsonDepth: number;
}

export function compileValidation(spec: ValidationSpec): CompiledValidation {
  for (const part of spec.allowNestedQuantifiers ? [] : (['params', 'query', 'headers', 'body'] as const)) {
    const at = backtrackingPattern(spec[part], part);
    if (at) {
      throw new Error(
        `${at} is a regular expression that can take exponential time on a crafted input (a quantified group ` +
          'inside another, as in (a+)+): write it with one level of repetition, or set ' +
          'validate.allowNestedQuantifiers if it is unambiguous',
      );
    }
  }
  return {
    params: spec.params ? strings.compile(spec.params) : undefined,
    query: spec.query ? strings.compile(spec.query) : undefined,
    headers: spec.headers ? strings.compile(lowerCaseHeaderSchema(spec.headers)) : undefined,
    body: spec.body ? json.compile(spec.body) : undefined,
    contentTypes: spec.contentTypes ? new Set(spec.contentTypes.map((t) => t.toLowerCase())) : undefined,
    maxBodyBytes: spec.maxBodyBytes,
    maxJsonDepth: spec.maxJsonDepth ?? 32,
  };
}

/**
 * Where in a schema a `pattern` (or a `patternProperties` name) nests repetitions (star height above 1, as
 * safe-regex2 judges it), or undefined. ajv runs patterns with JavaScript's backtracking engine on the
 * request's own strings on the gateway's event loop: `^(a+)+$` against `aaaa...!` would stall every
 * request, so such a route file is refused when it is loaded.
 */
function backtrackingPattern(schema: unknown, at: string): string | undefined {
  if (schema === null || typeof schema !== 'object') return undefined;
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'pattern' && typeof value === 'string' && backtracks(value)) return `${at}/pattern`;
    if (key === 'patternProperties' && value !== null && typeof value === 'object') {
      const bad = Object.keys(value).findIndex(backtracks);
      if (bad >= 0) return `${at}/patternProperties (name ${bad + 1})`;
    }
    const inner = backtrackingPattern(value, `${at}/${key}`);
    if (inner) return inner;
  }
  return undefined;
}

/** Nested repetition in a valid pattern (an invalid one is left for ajv to refuse with its own message). */
function backtracks(pattern: string): boolean {
  try {
    new RegExp(pattern, 'u');
  } catch {
    return false;
  }
  return !safeRegex(pattern);
}

/** Header names are case-insensitive (RFC 9110 §5.1); requests carry them lower-cased. */
function lowerCaseHeaderSchema(schema: object): object {
  const s = schema as { properties?: Record<string, unknown>; required?: string[] };
  return {
    ...s,
    ...(s.properties
      ? { properties: Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k.toLowerCase(), v])) }
      : {}),
    ...(s.required ? { required: s.required.map((r) => r.toLowerCase()) } : {}),
  };
}

const SAFE_SEGMENT = /^[A-Za-z0-9_.-]{1,64}$/;

/** `body/items/3/name` from an ajv error, with any segment that is not a plain name replaced by `*`. */
export function fieldOf(part: string, error: ErrorObject): string {
  const segments = error.instancePath.split('/').slice(1);
  const params = error.params as Record<string, unknown>;
  const extra = params['missingProperty'] ?? params['additionalProperty'];
  if (typeof extra === 'string') segments.push(extra);
  const safe = segments.map((s) => (SAFE_SEGMENT.test(s) ? s : '*'));
  return [part, ...safe].join('/');
}

/**
 * What makes a JSON text unfit to check, found in one pass over its bytes before it is parsed:
 * `too_deep` (a nesting bomb never reaches JSON.parse), or `duplicate_member`: an object naming a member
 * twice. JSON.parse keeps the last of them and some upstream parsers the first, so a schema would pass
 * one value and the upstream act on another (RFC 8259 §4: names SHOULD be unique; I-JSON: MUST).
 * Names are compared as JSON strings (`"a"` and `"\u0061"` are one name). Text that is not JSON is left
 * to the parser to refuse.
 */
export function jsonShapeError(body: Buffer, maxDepth: number): 'too_deep' | 'duplicate_member' | undefined {
  // Per open object, its member names so far as [start, end) byte offsets (null for an array); names with
  // escapes are compared decoded (rare: `Names` holds both forms only then).
  const open: (Names | null)[] = [];
  let nameNext = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === 0x22) {
      // The closing quote: the next one not escaped by an odd run of backslashes (found natively).
      let end = body.indexOf(0x22, i + 1);
      while (end !== -1 && escapedAt(body, end)) end = body.indexOf(0x22, end + 1);
      if (end === -1) return undefined; // not JSON: the parser answers
      if (nameNext) {
        const seen = (open[open.length - 1] as Names).add(body, i + 1, end);
        if (seen === undefined) return undefined;
        if (seen) return 'duplicate_member';
        nameNext = false;
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      if (open.length >= maxDepth) return 'too_deep';
      open.push(c === 0x7b ? new Names() : null);
      nameNext = c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
      nameNext = false;
    } else if (c === 0x2c) nameNext = open.length > 0 && open[open.length - 1] !== null;
  }
  return undefined;
}

/** Whether the quote at `at` is escaped (preceded by an odd number of backslashes). */
function escapedAt(body: Buffer, at: number): boolean {
  let n = 0;
  while (body[at - 1 - n] === 0x5c) n++;
  return n % 2 === 1;
}

/** Names compared byte for byte, before an object's names go into a Set (bounds the work per name). */
const LINEAR_NAMES = 16;

/**
 * The member names of one object. The first few are kept as byte ranges and compared in place (no string
 * per name, the common case); past {@link LINEAR_NAMES}, or once a name has an escape, they are kept as
 * decoded strings in a Set, so a huge object costs one lookup per name, not a comparison with every other.
 */
class Names {
  readonly #spans: number[] = [];
  #set: Set<string> | undefined;

  /** Adds the name in body[start, end): true when the object already has it, undefined when it is not JSON. */
  add(body: Buffer, start: number, end: number): boolean | undefined {
    const escaped = hasEscape(body, start, end);
    if (this.#set === undefined && !escaped && this.#spans.length < 2 * LINEAR_NAMES) {
      if (this.#hasSpan(body, start, end)) return true;
      this.#spans.push(start, end);
      return false;
    }
    if (this.#set === undefined) {
      this.#set = new Set();
      const spans = this.#spans;
      for (let k = 0; k < spans.length; k += 2)
        this.#set.add(body.toString('utf8', spans[k] as number, spans[k + 1] as number));
    }
    let name: string;
    try {
      name = escaped
        ? (JSON.parse(body.toString('utf8', start - 1, end + 1)) as string)
        : body.toString('utf8', start, end);
    } catch {
      return undefined;
    }
    if (this.#set.has(name)) return true;
    this.#set.add(name);
    return false;
  }

  #hasSpan(body: Buffer, start: number, end: number): boolean {
    const spans = this.#spans;
    const length = end - start;
    for (let k = 0; k < spans.length; k += 2) {
      const s = spans[k] as number;
      if ((spans[k + 1] as number) - s !== length) continue;
      let b = 0;
      while (b < length && body[s + b] === body[start + b]) b++;
      if (b === length) return true;
    }
    return false;
  }
}

function hasEscape(body: Buffer, start: number, end: number): boolean {
  for (let k = start; k < end; k++) if (body[k] === 0x5c) return true;
  return false;
}
