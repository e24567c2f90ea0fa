/**
 * Crypto-shredding API. The subject id travels in the body, never in the URL: URLs are logged, and a
 * subject id is often PII. Audit events name the pseudonymous reference (`subj_...`), not the id.
 */
import type { FastifyInstance } from 'fastify';
import type { EncryptionContext } from '../crypto/context.ts';
import type { SubjectOperation } from './authorize.ts';
import { subjectSchema } from './schemas.ts';
import { audit, authorize, itemError, type KeysServices } from './services.ts';

interface SubjectBody {
  subject: string;
  batch?: { plaintext?: string; ciphertext?: string; context?: EncryptionContext }[];
}

export function subjectRoutes(app: FastifyInstance, services: KeysServices): void {
  const { subjects } = services;
  const guard = async (
    req: Parameters<typeof authorize>[1],
    operation: SubjectOperation,
    subject: string,
  ) => {
    const target = { type: 'subject', id: await subjects.subjectRef(subject) };
    const caller = await authorize(services, req, (c) => ({ caller: c, kind: 'subject', operation }), target);
    return { caller, target };
  };

  app.post<{ Body: SubjectBody }>(
    '/v1/subjects/encrypt',
    { schema: { body: subjectSchema('encrypt', services.maxBatch) } },
    async (req) => {
      const { caller, target } = await guard(req, 'encrypt', req.body.subject);
      const items = req.body.batch!.map((i) => ({
        plaintext: Buffer.from(i.plaintext!, 'base64'),
        context: i.context,
      }));
      const out = await subjects.encrypt(req.body.subject, items);
      audit(services, req, {
        action: 'subject.encrypt',
        caller,
        target,
        outcome: 'success',
        details: { count: out.length },
      });
      return { batch_results: out.map((ciphertext) => ({ ciphertext })) };
    },
  );

  app.post<{ Body: SubjectBody }>(
    '/v1/subjects/decrypt',
    { schema: { body: subjectSchema('decrypt', services.maxBatch) } },
    async (req) => {
      const { caller, target } = await guard(req, 'decrypt', req.body.subject);
      const items = req.body.batch!.map((i) => ({ ciphertext: i.ciphertext!, context: i.context }));
      try {
        const out = await subjects.decrypt(req.body.subject, items);
        audit(services, req, {
          action: 'subject.decrypt',
          caller,
          target,
          outcome: 'success',
          details: { count: out.length },
        });
        return {
          batch_results: out.map((r) =>
            r.ok ? { plaintext: r.value.toString('base64') } : itemError(r.error),
          ),
        };
      } catch (err) {
        audit(services, req, {
          action: 'subject.decrypt',
          caller,
          target,
          outcome: 'failure',
          reason: (err as { code?: string }).code ?? 'error',
        });
        throw err;
      }
    },
  );

  app.post<{ Body: SubjectBody }>(
    '/v1/subjects/erase',
    { schema: { body: subjectSchema('none', services.maxBatch) } },
    async (req) => {
      const { caller, target } = await guard(req, 'erase', req.body.subject);
      const erased = await subjects.erase(req.body.subject);
      audit(services, req, {
        action: 'subject.erase',
        caller,
        target,
        outcome: 'success',
        details: { already_erased: !erased },
      });
      return { subject_ref: target.id, erased: true, already_erased: !erased };
    },
  );
}
