/**
 * The transit API: `POST /v1/keys/:name/<operation>` with one item or `{ batch: [...] }`. Each request is
 * authorised once for its key and operation, then audited with counts (never values).
 */
import type { FastifyInstance } from 'fastify';
import { coreError } from '../../core/index.ts';
import type { EncryptionContext } from '../crypto/context.ts';
import type { KeyOperation } from '../keyring/key-types.ts';
import type { TokenFormat } from '../tokenize/token-format.ts';
import type { ItemResult } from '../transit/operations.ts';
import { itemSchemas, nameParams, oneOrBatch } from './schemas.ts';
import { audit, authorize, itemError, type KeysServices } from './services.ts';

type Item = Record<string, unknown> & { context?: EncryptionContext };
type Handler = (name: string, items: Item[]) => Promise<ItemResult<Record<string, unknown>>[]>;

const bytes = (value: unknown) => Buffer.from(String(value), 'base64');
const ok = <T>(value: T): ItemResult<T> => ({ ok: true, value });

export function transitRoutes(app: FastifyInstance, services: KeysServices): void {
  const { transit, vault } = services;
  const routes: Record<
    string,
    { operation: KeyOperation; schema: keyof typeof itemSchemas; handle: Handler }
  > = {
    encrypt: {
      operation: 'encrypt',
      schema: 'encrypt',
      handle: async (name, items) =>
        (
          await transit.encrypt(
            name,
            items.map((i) => ({ plaintext: bytes(i['plaintext']), context: i.context })),
          )
        ).map((ciphertext) => ok({ ciphertext })),
    },
    decrypt: {
      operation: 'decrypt',
      schema: 'decrypt',
      handle: async (name, items) =>
        (
          await transit.decrypt(
            name,
            items.map((i) => ({ ciphertext: String(i['ciphertext']), context: i.context })),
          )
        ).map((r) => (r.ok ? ok({ plaintext: r.value.toString('base64') }) : r)),
    },
    rewrap: {
      operation: 'rewrap',
      schema: 'rewrap',
      handle: async (name, items) =>
        (
          await transit.rewrap(
            name,
            items.map((i) => ({ ciphertext: String(i['ciphertext']), context: i.context })),
          )
        ).map((r) => (r.ok ? ok({ ciphertext: r.value }) : r)),
    },
    'datakey/plaintext': {
      operation: 'datakey',
      schema: 'datakey',
      handle: async (name, items) =>
        (
          await transit.datakey(
            name,
            items.map((i) => i.context),
            true,
          )
        ).map((k) => ok({ plaintext: k.plaintext!.toString('base64'), ciphertext: k.ciphertext })),
    },
    'datakey/wrapped': {
      operation: 'datakey',
      schema: 'datakey',
      handle: async (name, items) =>
        (
          await transit.datakey(
            name,
            items.map((i) => i.context),
            false,
          )
        ).map((k) => ok({ ciphertext: k.ciphertext })),
    },
    hmac: {
      operation: 'hmac',
      schema: 'hmac',
      handle: async (name, items) =>
        (
          await transit.hmac(
            name,
            items.map((i) => bytes(i['input'])),
          )
        ).map((hmac) => ok({ hmac })),
    },
    sign: {
      operation: 'sign',
      schema: 'sign',
      handle: async (name, items) =>
        (
          await transit.sign(
            name,
            items.map((i) => bytes(i['input'])),
          )
        ).map((signature) => ok({ signature })),
    },
    verify: {
      operation: 'verify',
      schema: 'verify',
      handle: async (name, items) =>
        (
          await transit.verify(
            name,
            items.map((i) => ({ input: bytes(i['input']), signature: String(i['signature']) })),
          )
        ).map((r) => (r.ok ? ok({ valid: r.value }) : r)),
    },
    tokenize: {
      operation: 'tokenize',
      schema: 'tokenize',
      handle: async (name, items) =>
        (
          await vault.tokenize(
            name,
            items.map((i) => ({
              value: String(i['value']),
              format: (i['format'] ?? 'random') as TokenFormat,
              ...(i['keep_last'] === undefined ? {} : { keepLast: Number(i['keep_last']) }),
            })),
          )
        ).map((r) => (r.ok ? ok({ token: r.value }) : r)),
    },
    detokenize: {
      operation: 'detokenize',
      schema: 'detokenize',
      handle: async (name, items) =>
        (
          await vault.detokenize(
            name,
            items.map((i) => String(i['token'])),
          )
        ).map((r) => (r.ok ? ok({ value: r.value }) : r)),
    },
  };

  for (const [path, route] of Object.entries(routes)) {
    const { item, required } = itemSchemas[route.schema];
    app.post<{ Params: { name: string }; Body: Item & { batch?: Item[] } }>(
      `/v1/keys/:name/${path}`,
      { schema: { params: nameParams, body: oneOrBatch(item, required, services.maxBatch) } },
      async (req) => {
        const { name } = req.params;
        const target = { type: 'key', id: name };
        const caller = await authorize(
          services,
          req,
          (c) => keyRequest(services, c, route.operation, name),
          target,
        );
        const { batch, ...single } = req.body ?? {};
        if (batch && Object.keys(single).length > 0) {
          throw coreError('invalid_request', 'send either one item or { batch }, not both');
        }
        const items = batch ?? [single];
        const results = await route.handle(name, items);
        const failed = results.filter((r) => !r.ok).length;
        audit(services, req, {
          action: route.operation,
          caller,
          target,
          outcome: failed === results.length ? 'failure' : 'success',
          details: { count: results.length, failed },
        });
        if (batch) return { batch_results: results.map((r) => (r.ok ? r.value : itemError(r.error))) };
        const [only] = results;
        if (!only!.ok) throw only!.error;
        return only!.value;
      },
    );
  }
}

/**
 * The authorization request for a key operation. A key that does not exist is refused like a key the
 * caller may not use, so callers cannot probe which key names exist (admins get the 404).
 */
export async function keyRequest(
  services: KeysServices,
  caller: string,
  operation: KeyOperation,
  name: string,
) {
  try {
    const record = await services.keyring.record(name);
    return { caller, kind: 'key' as const, operation, key: name, acl: record.acl };
  } catch (err) {
    const missing = (err as { code?: string }).code === 'keys_key_not_found';
    if (missing && (await services.authorizer.authorize({ caller, kind: 'admin', operation: 'list' })))
      throw err;
    if (missing) return { caller, kind: 'key' as const, operation, key: name, acl: {} };
    throw err;
  }
}
