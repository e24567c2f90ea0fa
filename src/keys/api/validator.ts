/**
 * The body validator of the keys API. Fastify's default Ajv silently removes unknown properties and
 * coerces types; for a cryptographic API that is a trap (a misspelt `contxt` would encrypt with no context
 * at all), so this scope validates strictly: unknown properties and wrong types are refused with 400.
 */
import { Ajv } from 'ajv';
import type { FastifyInstance } from 'fastify';

export function useStrictValidation(app: FastifyInstance): void {
  const ajv = new Ajv({
    removeAdditional: false,
    useDefaults: false,
    coerceTypes: false,
    allErrors: false,
    strict: false,
  });
  app.setValidatorCompiler(({ schema }) => ajv.compile(schema));
}
