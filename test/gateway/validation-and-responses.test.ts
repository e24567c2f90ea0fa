/**
 * Issue 7, "Input validation" and "Responses": schemas per route (mass assignment, content type, depth),
 * a 400 that names the field without echoing input; CORS allow-lists, versioning with Deprecation/Sunset,
 * and TLS termination with HSTS.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { Agent, request } from 'undici';
import { localServerCredentials } from '../../src/core/index.ts';
import type { RouteDocument } from '../../src/gateway/routes/route-file.ts';
import { startGateway, type TestGateway, tempHome } from './fixtures/harness.ts';
import { startUpstream, type TestUpstream } from './fixtures/upstream.ts';

let upstream: TestUpstream;
let gw: TestGateway;

const doc = (target: string): RouteDocument => ({
  format_version: '1',
  services: [{ name: 'svc', targets: [target] }],
  routes: [
    {
      name: 'users.update',
      service: 'svc',
      paths: ['/users/:id'],
      methods: ['PUT'],
      auth: { required: false },
      validate: {
        params: {
          type: 'object',
          properties: { id: { type: 'string', pattern: '^[0-9]{1,10}$' } },
          required: ['id'],
        },
        query: { type: 'object', properties: { dryRun: { type: 'boolean' } }, additionalProperties: false },
        headers: {
          type: 'object',
          properties: { 'X-Tenant': { type: 'string', pattern: '^[a-z]+$' } },
          required: ['X-Tenant'],
        },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            name: { type: 'string', maxLength: 50 },
            tags: { type: 'array', items: { type: 'string' } },
          },
        },
        contentTypes: ['application/json'],
        maxJsonDepth: 5,
      },
    },
    {
      name: 'cors',
      service: 'svc',
      paths: ['/cors'],
      methods: ['GET', 'POST'],
      auth: { required: false },
      cors: { origins: ['https://app.example'], credentials: true, headers: ['content-type'] },
    },
    {
      name: 'cors-denied',
      service: 'svc',
      paths: ['/cors-denied'],
      methods: ['GET', 'POST'],
      auth: { required: false },
      ipDeny: ['127.0.0.0/8', '::1/128'],
      cors: { origins: ['https://app.example'] },
    },
    {
      name: 'v1',
      service: 'svc',
      paths: ['/v1/items'],
      auth: { required: false },
      deprecation: {
        deprecatedAt: '2026-01-01T00:00:00Z',
        sunsetAt: '2027-01-01T00:00:00Z',
        link: 'https://docs.example/v2',
      },
    },
    {
      name: 'items.v2',
      service: 'svc',
      paths: ['/items'],
      auth: { required: false },
      matchHeaders: { 'api-version': '2' },
    },
    { name: 'get-only', service: 'svc', paths: ['/get-only'], methods: ['GET'], auth: { required: false } },
  ],
});

before(async () => {
  upstream = await startUpstream();
  gw = await startGateway(doc(upstream.url));
});
after(async () => {
  await gw.close();
  await upstream.close();
});

async function put(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await request(`${gw.url}${path}`, {
    method: 'PUT',
    body,
    headers: { 'content-type': 'application/json', 'x-tenant': 'acme', ...headers },
  });
  return {
    status: res.statusCode,
    problem: (await res.body.json().catch(() => ({}))) as Record<string, string>,
  };
}

describe('input validation', () => {
  test('a valid request passes all four schemas', async () => {
    assert.equal((await put('/users/42?dryRun=true', '{"name":"Ann","tags":["a"]}')).status, 200);
  });

  test('mass assignment (an unknown body property) is refused and the field is named', async () => {
    const r = await put('/users/42', '{"name":"Ann","isAdmin":true}');
    assert.equal(r.status, 400);
    assert.equal(r.problem['code'], 'gateway_validation_failed');
    assert.equal(r.problem['field'], 'body/isAdmin');
  });

  test('each part is checked: params, query, headers, body types', async () => {
    assert.equal((await put('/users/abc', '{"name":"Ann"}')).problem['field'], 'params/id');
    assert.equal((await put('/users/1?admin=1', '{"name":"Ann"}')).problem['field'], 'query/admin');
    assert.equal(
      (await put('/users/1', '{"name":"Ann"}', { 'x-tenant': 'ACME1' })).problem['field'],
      'headers/x-tenant',
    );
    assert.equal((await put('/users/1', '{"name":5}')).problem['field'], 'body/name');
    assert.equal((await put('/users/1', '{}')).problem['field'], 'body/name');
  });

  test('a query parameter named __proto__ is a parameter to the schema, not the prototype of the query', async () => {
    // It replaced the prototype of the object the schema checked (with an array): the schema never saw it.
    const r = await put('/users/1?dryRun=true&__proto__=x', '{"name":"Ann"}');
    assert.equal(r.status, 400);
    assert.equal(r.problem['field'], 'query/__proto__');
  });

  test('the 400 never echoes the input, even an attacker-chosen property name', async () => {
    const evil = '<script>alert(1)</script>';
    const r = await put('/users/1', JSON.stringify({ name: evil, [evil]: 1 }));
    assert.equal(r.status, 400);
    assert.ok(!JSON.stringify(r.problem).includes('script'), JSON.stringify(r.problem));
    assert.equal(r.problem['field'], 'body/*');
  });

  test('wrong content type, deep JSON and invalid JSON are refused', async () => {
    assert.equal((await put('/users/1', '{"name":"a"}', { 'content-type': 'text/plain' })).status, 415);
    const deep = `{"name":"a","tags":${'['.repeat(50)}${']'.repeat(50)}}`;
    assert.equal((await put('/users/1', deep)).status, 400);
    assert.equal((await put('/users/1', '{"name":')).status, 400);
  });

  test('a member named twice in one object is refused: the schema and the upstream could read different values', async () => {
    // JSON.parse keeps the last "isAdmin"-style duplicate, some upstream parsers the first.
    for (const body of [
      '{"name":"Ann","name":"<script>"}',
      '{"name":"Ann","\\u006eame":"Bob"}',
      '{"name":"Ann","tags":["a"],"tags":[]}',
    ]) {
      const r = await put('/users/1', body);
      assert.equal(r.status, 400, body);
      assert.equal(r.problem['field'], 'body');
      assert.ok(!JSON.stringify(r.problem).includes('script'));
    }
    // The same name in two objects, or the same value twice, is no duplicate.
    assert.equal((await put('/users/1', '{"name":"Ann","tags":["name","name"]}')).status, 200);
  });

  test('a JSON body is read as UTF-8 only: another charset cannot hide properties from the schema', async () => {
    // In UTF-7, `+ACIAXQAs...-` is `"],"isAdmin":true,...`: the schema saw one harmless string in `tags`,
    // while an upstream honouring the charset (Express's body-parser takes any `utf-*` and decodes it
    // with iconv-lite) read `{"name":"Ann","tags":[""],"isAdmin":true,"x":[""]}`.
    const smuggled =
      '{"name":"Ann","tags":["+ACIAXQAsACIAaQBzAEEAZABtAGkAbgAiADoAdAByAHUAZQAsACIAeAAiADoAWwAi-"]}';
    upstream.received.length = 0;
    for (const type of [
      'application/json; charset=utf-7',
      'application/JSON;charset="UTF-7"',
      'application/json; charset=utf-8; charset=utf-7',
    ]) {
      const r = await put('/users/1', smuggled, { 'content-type': type });
      assert.equal(r.status, 415, type);
      assert.equal(r.problem['code'], 'gateway_unsupported_media_type');
    }
    assert.equal(upstream.received.length, 0);
    // Bytes that are not UTF-8 are refused, not read as U+FFFD while the upstream reads something else.
    const latin1 = Buffer.from('{"name":"Ann\xe9"}', 'latin1');
    const res = await request(`${gw.url}/users/1`, {
      method: 'PUT',
      body: latin1,
      headers: { 'content-type': 'application/json', 'x-tenant': 'acme' },
    });
    await res.body.dump();
    assert.equal(res.statusCode, 400);
    assert.equal(upstream.received.length, 0);
    assert.equal(
      (await put('/users/1', '{"name":"Anné"}', { 'content-type': 'application/json; charset=UTF-8' }))
        .status,
      200,
    );
  });

  test("a route's maxBodyBytes only lowers the gateway's limit: it cannot make the gateway buffer more", async () => {
    // The body is read whole into memory before the upstream call: a route asking for 1 GB (a typo, or a
    // file that means "uploads") must not let any client make the gateway hold that much.
    const small = await startGateway(
      {
        format_version: '1',
        services: [{ name: 'svc', targets: [upstream.url] }],
        routes: [
          {
            name: 'upload',
            service: 'svc',
            paths: ['/upload'],
            methods: ['POST'],
            auth: { required: false },
            validate: { maxBodyBytes: 1_000_000_000 },
          },
        ],
      },
      { limits: { maxBodyBytes: 1024 } },
    );
    try {
      const post = async (size: number, chunked = false) => {
        const res = await request(`${small.url}/upload`, {
          method: 'POST',
          // A stream has no Content-Length: the limit must hold on what is streamed as well as declared.
          body: chunked ? Readable.from([Buffer.alloc(size, 0x61)]) : Buffer.alloc(size, 0x61),
        });
        await res.body.dump();
        return res.statusCode;
      };
      assert.equal(await post(4096), 413);
      assert.equal(await post(4096, true), 413);
      assert.equal(await post(1000), 200);
    } finally {
      await small.close();
    }
  });
});

describe('CORS', () => {
  test('a listed origin gets its own origin back with credentials, never *', async () => {
    const res = await request(`${gw.url}/cors`, { headers: { origin: 'https://app.example' } });
    await res.body.dump();
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
  });

  test("the upstream's Vary is kept beside Origin: a cache must not mix encodings or languages", async () => {
    upstream.responseHeaders = { vary: 'Accept-Encoding, Accept-Language' };
    try {
      const res = await request(`${gw.url}/cors`, { headers: { origin: 'https://app.example' } });
      await res.body.dump();
      const vary = String(res.headers['vary'])
        .split(',')
        .map((v) => v.trim().toLowerCase());
      assert.deepEqual(vary.sort(), ['accept-encoding', 'accept-language', 'origin']);
    } finally {
      upstream.responseHeaders = {};
    }
  });

  test('an answer without Origin on a CORS route also varies by Origin, so a cache keeps it apart', async () => {
    // Fetch standard, CORS protocol and HTTP caches: an answer stored for a request without Origin (no
    // Access-Control-Allow-Origin) would otherwise be served to the browser's CORS request too.
    const res = await request(`${gw.url}/cors`);
    await res.body.dump();
    assert.equal(res.headers['vary'], 'Origin');
  });

  test('an unlisted origin gets no CORS headers and its preflight is refused', async () => {
    const res = await request(`${gw.url}/cors`, { headers: { origin: 'https://evil.example' } });
    await res.body.dump();
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    const preflight = await request(`${gw.url}/cors`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    await preflight.body.dump();
    assert.equal(preflight.statusCode, 403);
  });

  test('a preflight from a listed origin is answered by the gateway', async () => {
    upstream.received.length = 0;
    const res = await request(`${gw.url}/cors`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    await res.body.dump();
    assert.equal(res.statusCode, 204);
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(upstream.received.length, 0);
  });

  test('a preflight from a denied address is refused, not answered: it learns nothing of the route', async () => {
    const res = await request(`${gw.url}/cors-denied`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(res.statusCode, 403);
    assert.equal(((await res.body.json()) as { code: string }).code, 'gateway_ip_denied');
    assert.equal(res.headers['access-control-allow-methods'], undefined);
  });

  test('a preflight answer carries the security headers of every answer', async () => {
    const res = await request(`${gw.url}/cors`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    await res.body.dump();
    assert.equal(res.statusCode, 204);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.equal(res.headers['cross-origin-resource-policy'], 'same-origin');
  });

  test('a preflight-shaped OPTIONS on a route without CORS gets 405, not the upstream', async () => {
    // The route allows GET only and has no `cors`: nothing answers a preflight for it, so an OPTIONS with
    // Access-Control-Request-Method must not slip past the method list to the upstream.
    upstream.received.length = 0;
    const res = await request(`${gw.url}/get-only`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
    });
    await res.body.dump();
    assert.equal(res.statusCode, 405);
    // Nor on a CORS route without Origin: the cors stage passes a request without one on.
    const noOrigin = await request(`${gw.url}/cors`, {
      method: 'OPTIONS',
      headers: { 'access-control-request-method': 'GET' },
    });
    await noOrigin.body.dump();
    assert.equal(noOrigin.statusCode, 405);
    assert.equal(upstream.received.length, 0);
  });

  test('a schema pattern with nested repetition is refused at load, unless the route says it is unambiguous', () => {
    // ajv runs patterns with JavaScript's backtracking engine on the request's own strings, on the event
    // loop: `^(a+)+$` against 30 a's and a '!' takes seconds, for every such request.
    const withPattern = (pattern: string, allow?: boolean) => {
      const d = doc(upstream.url);
      d.routes[0]!.validate = {
        ...d.routes[0]!.validate,
        params: { type: 'object', properties: { id: { type: 'string', pattern } } },
        ...(allow ? { allowNestedQuantifiers: true } : {}),
      };
      return d;
    };
    assert.throws(
      () => gw.gateway.apply(withPattern('^(a+)+$')),
      (err: { code?: string; message?: string }) =>
        err.code === 'gateway_route_file_invalid' &&
        /params\/properties\/id\/pattern/.test(err.message ?? ''),
    );
    // An unambiguous pattern the check cannot tell apart goes in when the route says so.
    gw.gateway.apply(withPattern('^([a-z0-9]+[-.])*[a-z0-9]+$', true));
    gw.gateway.apply(doc(upstream.url));
  });

  test('a route file combining credentials with origin * is rejected', () => {
    const bad = doc(upstream.url);
    bad.routes[1]!.cors = { origins: ['*'], credentials: true };
    assert.throws(
      () => gw.gateway.apply(bad),
      (err: { code?: string }) => err.code === 'gateway_route_file_invalid',
    );
  });
});

describe('versioning', () => {
  test('a deprecated version carries Deprecation, Sunset and a deprecation link', async () => {
    const res = await request(`${gw.url}/v1/items`);
    await res.body.dump();
    assert.equal(res.headers['deprecation'], `@${Date.parse('2026-01-01T00:00:00Z') / 1000}`);
    assert.equal(res.headers['sunset'], 'Fri, 01 Jan 2027 00:00:00 GMT');
    assert.equal(res.headers['link'], '<https://docs.example/v2>; rel="deprecation"');
  });

  test('versioning by header routes only the matching version', async () => {
    const v2 = await request(`${gw.url}/items`, { headers: { 'api-version': '2' } });
    await v2.body.dump();
    assert.equal(v2.statusCode, 200);
    const none = await request(`${gw.url}/items`, { headers: { 'api-version': '3' } });
    await none.body.dump();
    assert.equal(none.statusCode, 404);
  });
});

describe('TLS termination', () => {
  test('the HTTPS listener sends HSTS, refuses TLS 1.1 and negotiates an AEAD suite', async () => {
    const home = tempHome();
    const creds = await localServerCredentials(home, 'gateway');
    const tlsGw = await startGateway(doc(upstream.url), {
      tls: { cert: creds.cert, key: creds.key, minVersion: 'TLSv1.2' },
    });
    const agent = new Agent({ connect: { ca: creds.ca } });
    try {
      const res = await request(`${tlsGw.url.replace('127.0.0.1', 'localhost')}/v1/items`, {
        dispatcher: agent,
      });
      await res.body.dump();
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['strict-transport-security']), /^max-age=\d+; includeSubDomains$/);
      const old = await new Promise<string>((resolve) => {
        const s = tlsConnect({
          port: tlsGw.port,
          host: '127.0.0.1',
          ca: creds.ca,
          maxVersion: 'TLSv1.1',
          minVersion: 'TLSv1',
        });
        s.on('secureConnect', () => resolve('connected'));
        s.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? 'error'));
      });
      assert.notEqual(old, 'connected');
      const cipher = await new Promise<string>((resolve, reject) => {
        const s = tlsConnect({
          port: tlsGw.port,
          host: '127.0.0.1',
          ca: creds.ca,
          servername: 'localhost',
          maxVersion: 'TLSv1.2',
        });
        s.on('secureConnect', () => {
          resolve(s.getCipher().name);
          s.end();
        });
        s.on('error', reject);
      });
      assert.match(cipher, /GCM|CHACHA20/);
    } finally {
      await agent.close();
      await tlsGw.close();
    }
  });
});
