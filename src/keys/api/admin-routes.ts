/**
 * Key management: create, list, read, configure, rotate, trim. Management is for the admin list (config
 * `admins`); reading one key's metadata is also open to callers with `read` on that key. Responses carry
 * versions, dates, usage and public keys, never secret material.
 */
import type { FastifyInstance } from 'fastify';
import type { KeyAcl, KeyType } from '../keyring/key-types.ts';
import type { KeyRecord } from '../store/key-store.ts';
import { configureKeySchema, createKeySchema, nameParams, trimSchema } from './schemas.ts';
import { audit, authorize, type KeysServices } from './services.ts';
import { keyRequest } from './transit-routes.ts';

interface CreateBody {
  name: string;
  type: KeyType;
  rotation_period_ms?: number | null;
  max_uses_per_version?: number;
  acl?: KeyAcl;
}

interface ConfigureBody {
  min_decryption_version?: number;
  rotation_period_ms?: number | null;
  max_uses_per_version?: number;
  acl?: KeyAcl;
}

export function describeKey(record: KeyRecord) {
  return {
    name: record.name,
    type: record.type,
    latest_version: record.latestVersion,
    min_decryption_version: record.minDecryptionVersion,
    min_available_version: record.minAvailableVersion,
    rotation_period_ms: record.rotationPeriodMs,
    max_uses_per_version: record.maxUsesPerVersion,
    acl: record.acl,
    created_at: record.createdAt,
    rotated_at: new Date(record.rotatedAtMs).toISOString(),
  };
}

export function adminRoutes(app: FastifyInstance, services: KeysServices): void {
  const { keyring } = services;
  const admin = (operation: 'create' | 'list' | 'rotate' | 'configure' | 'trim') => (caller: string) => ({
    caller,
    kind: 'admin' as const,
    operation,
  });

  app.post<{ Body: CreateBody }>('/v1/keys', { schema: { body: createKeySchema } }, async (req, reply) => {
    const target = { type: 'key', id: req.body.name };
    const caller = await authorize(services, req, admin('create'), target);
    const record = await keyring.create({
      name: req.body.name,
      type: req.body.type,
      rotationPeriodMs: req.body.rotation_period_ms ?? null,
      ...(req.body.max_uses_per_version ? { maxUsesPerVersion: req.body.max_uses_per_version } : {}),
      ...(req.body.acl ? { acl: req.body.acl } : {}),
    });
    audit(services, req, {
      action: 'create',
      caller,
      target,
      outcome: 'success',
      details: { type: record.type },
    });
    return reply.code(201).send(describeKey(record));
  });

  app.get('/v1/keys', async (req) => {
    await authorize(services, req, admin('list'));
    return { keys: (await keyring.list()).map(describeKey) };
  });

  app.get<{ Params: { name: string } }>('/v1/keys/:name', { schema: { params: nameParams } }, async (req) => {
    const { name } = req.params;
    await authorize(services, req, (c) => keyRequest(services, c, 'read', name), { type: 'key', id: name });
    const record = await keyring.record(name);
    const versions = await keyring.versions(name);
    return {
      ...describeKey(record),
      versions: versions.map((v) => ({
        version: v.version,
        created_at: v.createdAt,
        uses: v.uses,
        ...(v.publicKey ? { public_key: v.publicKey.toString('base64') } : {}),
      })),
    };
  });

  app.patch<{ Params: { name: string }; Body: ConfigureBody }>(
    '/v1/keys/:name/config',
    { schema: { params: nameParams, body: configureKeySchema } },
    async (req) => {
      const target = { type: 'key', id: req.params.name };
      const caller = await authorize(services, req, admin('configure'), target);
      const body = req.body;
      const record = await keyring.configure(req.params.name, {
        ...(body.min_decryption_version === undefined
          ? {}
          : { minDecryptionVersion: body.min_decryption_version }),
        ...(body.rotation_period_ms === undefined ? {} : { rotationPeriodMs: body.rotation_period_ms }),
        ...(body.max_uses_per_version === undefined ? {} : { maxUsesPerVersion: body.max_uses_per_version }),
        ...(body.acl ? { acl: body.acl } : {}),
      });
      audit(services, req, {
        action: 'configure',
        caller,
        target,
        outcome: 'success',
        details: { fields: Object.keys(body), min_decryption_version: record.minDecryptionVersion },
      });
      return describeKey(record);
    },
  );

  app.post<{ Params: { name: string } }>(
    '/v1/keys/:name/rotate',
    { schema: { params: nameParams } },
    async (req) => {
      const target = { type: 'key', id: req.params.name };
      const caller = await authorize(services, req, admin('rotate'), target);
      const version = await keyring.rotate(req.params.name);
      audit(services, req, { action: 'rotate', caller, target, outcome: 'success', details: { version } });
      return describeKey(await keyring.record(req.params.name));
    },
  );

  app.post<{ Params: { name: string }; Body: { min_available_version: number } }>(
    '/v1/keys/:name/trim',
    { schema: { params: nameParams, body: trimSchema } },
    async (req) => {
      const target = { type: 'key', id: req.params.name };
      const caller = await authorize(services, req, admin('trim'), target);
      const removed = await keyring.trim(req.params.name, req.body.min_available_version);
      audit(services, req, { action: 'trim', caller, target, outcome: 'success', details: { removed } });
      return { ...describeKey(await keyring.record(req.params.name)), removed_versions: removed };
    },
  );
}
