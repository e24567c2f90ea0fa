/**
 * Per-route request schemas compiled with ajv (JSON Schema 2020-12 subset, as in OpenAPI 3.1): path
 * params, query, headers and body. Strings from the URL and headers are coerced to the schema's types;
 * the body is not. Errors name the field (sanitised JSON pointer) and never carry the input's value.
 * Trusts: schemas from the route file (operator input, compiled once at load).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
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

/** Nesting depth of a JSON text, counted without parsing (so a deep bomb never reaches JSON.parse). */
export function jsonDepthExceeds(body: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
