/**
 * Ingest threads (`ingestWorkers`) must change where batches are prepared, never what the log answers or
 * stores: the same bodies, good and bad (including the parser's attack cases), sent to an audit service
 * with a thread and to one without, get the same status, code and named fields, and store the same leaves.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { createLogger, Service } from '../../src/core/index.ts';
import { testConfig } from '../fixtures/config.ts';
import { type AuditFixture, call, event, startAudit } from './fixtures/audit-server.ts';

const MAX_BATCH = 5;

async function post(f: { url: string; dispatcher: Agent }, body: string) {
  const res = await request(`${f.url}/audit/v1/records`, {
    method: 'POST',
    dispatcher: f.dispatcher,
    body,
    headers: { 'content-type': 'application/json' },
  });
  const text = await res.body.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  return { status: res.statusCode, json };
}

/** What must not differ: status, code, the named field or schema pointers, the message. */
const verdict = (r: { status: number; json: Record<string, unknown> }) => ({
  status: r.status,
  code: r.json['code'],
  field: r.json['field'],
  errors: r.json['errors'],
  detail: r.json['detail'],
});

describe('audit ingest on a thread answers as the event loop does', () => {
  let threaded: AuditFixture;
  let inline: AuditFixture;
  // What the route did before it read raw bytes: fastify's own JSON parser and body schema, rendered by core.
  let reference: { service: Service; url: string; dispatcher: Agent };
  before(async () => {
    // One home: the same pseudonymising key and log key, two logs.
    const home = mkdtempSync(join(tmpdir(), 'bulwark-audit-threads-'));
    const settings = { maxBatch: MAX_BATCH };
    threaded = await startAudit('sqlite', {
      home,
      name: 'auditthreaded',
      settings: { ...settings, ingestWorkers: 1 },
    });
    const service = new Service({
      name: 'reference',
      config: testConfig(),
      logger: createLogger({ level: 'silent', component: 'reference', redactKeys: [] }),
      port: 0,
      routes: async (app) => {
        app.post(
          '/audit/v1/records',
          {
            schema: {
              body: {
                type: 'object',
                required: ['records'],
                additionalProperties: false,
                properties: { records: { type: 'array', minItems: 1, maxItems: MAX_BATCH } },
              },
            },
          },
          async () => ({ accepted: true }),
        );
      },
    });
    const url = await service.start();
    reference = { service, url, dispatcher: new Agent({ connect: { rejectUnauthorized: false } }) };
    inline = await startAudit('sqlite', {
      home,
      name: 'auditinline',
      settings: { ...settings, ingestWorkers: 0 },
    });
  });
  after(async () => {
    await threaded.stop();
    await inline.stop();
    await reference.service.stop();
    await reference.dispatcher.close();
  });

  it('refuses the same bad bodies with the same answers', async () => {
    const good = (overrides: Record<string, unknown> = {}) => event(overrides);
    const bodies: Record<string, string> = {
      'not JSON': '{"records": [',
      empty: '',
      'no records': '{}',
      'records not an array': '{"records": "x"}',
      'no record': '{"records": []}',
      'more than maxBatch': JSON.stringify({ records: Array.from({ length: MAX_BATCH + 1 }, good) }),
      'a top-level array': JSON.stringify([good()]),
      'prototype poisoning': `{"records": [${JSON.stringify(good())}], "__proto__": {"isAdmin": true}}`,
      'escaped prototype poisoning': `{"records": [${JSON.stringify(good())}], "\\u005f_proto__": {"x": 1}}`,
      'constructor poisoning': `{"records": [${JSON.stringify(good())}], "constructor": {"prototype": {"x": 1}}}`,
      'a record schema violation': JSON.stringify({ records: [good(), good({ outcome: 'maybe' })] }),
      'an unknown record field': JSON.stringify({ records: [good({ extra: 1 })] }),
      'a secret by key': JSON.stringify({ records: [good({ details: { password: 'hunter2' } })] }),
      'a secret by shape': JSON.stringify({
        records: [good({ reason: 'Bearer abcdefghijklmnopqrstuvwxyz0123' })],
      }),
      'a date far in the future': JSON.stringify({ records: [good({ time: '2999-01-01T00:00:00.000Z' })] }),
    };
    for (const [name, body] of Object.entries(bodies)) {
      const a = await post(threaded, body);
      const b = await post(inline, body);
      assert.ok(a.status >= 400, `${name}: refused (${a.status})`);
      assert.deepEqual(verdict(a), verdict(b), name);
      // Whatever fastify's parser or the body schema refuses is refused exactly as fastify refuses it.
      const c = await post(reference, body);
      if (c.status !== 200) assert.deepEqual(verdict(a), verdict(c), `${name}, as fastify answers it`);
      else
        assert.match(
          String(a.json['code']),
          /^audit_/,
          `${name}: only record checks refuse what fastify takes`,
        );
    }
    // Neither log took anything from them.
    assert.equal(
      (await call(threaded, 'GET', '/audit/v1/checkpoint')).status,
      (await call(inline, 'GET', '/audit/v1/checkpoint')).status,
    );
  });

  it('accepts what fastify accepts and stores the same leaves, duplicates included', async () => {
    const batch = Array.from({ length: MAX_BATCH }, (_, i) =>
      event({ details: { email: `person${i}@example.com`, cardNumber: '4111111111111111', n: i } }),
    );
    const bodies = [
      JSON.stringify({ records: batch.slice(0, 3) }),
      // An extra top-level key is removed by the route schema (ajv removeAdditional), not refused.
      JSON.stringify({ records: batch.slice(3), note: 'ignored' }),
      JSON.stringify({ records: batch }),
    ];
    for (const body of bodies) {
      const a = await post(threaded, body);
      const b = await post(inline, body);
      assert.equal(a.status, 200, JSON.stringify(a.json));
      assert.deepEqual(a.json, b.json);
    }
    const stored = async (f: AuditFixture) =>
      (await call(f, 'GET', '/audit/v1/records?limit=100')).json().records as unknown[];
    const records = await stored(threaded);
    assert.equal(records.length, MAX_BATCH);
    assert.deepEqual(records, await stored(inline));
    assert.ok(!JSON.stringify(records).includes('@example.com'), 'personal data pseudonymised on the thread');
  });
});
