/**
 * The route file's own checks (`parseRouteFile`, what `validate`, `diff`, `sync` and reloads all go
 * through): a file that parses as YAML and passes the shape checks can still be dangerous or ambiguous,
 * and must be refused with an issue that names where, before it can replace the table in force.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { gatewayValidate } from '../../src/cli/commands/gateway.ts';
import { systemClock } from '../../src/core/index.ts';
import { diffRouteDocuments } from '../../src/gateway/routes/route-diff.ts';
import { parseRouteFile, type RouteDocument } from '../../src/gateway/routes/route-file.ts';
import { RouteTable } from '../../src/gateway/routes/route-table.ts';

const HASH_A = `sha256:${'a'.repeat(64)}`;
const HASH_B = `sha256:${'b'.repeat(64)}`;

const file = (extra: Record<string, unknown> = {}, service: Record<string, unknown> = {}) =>
  stringify({
    format_version: '1',
    services: [{ name: 'svc', targets: ['http://127.0.0.1:9'], ...service }],
    routes: [{ name: 'r', service: 'svc', paths: ['/x'] }],
    ...extra,
  });

const issuesOf = (text: string) => {
  const parsed = parseRouteFile(text);
  return parsed.ok ? [] : parsed.issues;
};

describe('route file checks', () => {
  test('the baseline file is valid', () => {
    assert.deepEqual(issuesOf(file({ consumers: [{ name: 'a', apiKeyHash: HASH_A }] })), []);
  });

  test('two consumers of one name are refused: they would share its limits, metrics and audit name', () => {
    // `by: api-key` limits count per consumer name, metrics and `diff` key consumers by name.
    const issues = issuesOf(
      file({
        consumers: [
          { name: 'batch', apiKeyHash: HASH_A, roles: ['reader'] },
          { name: 'batch', apiKeyHash: HASH_B, roles: ['admin'] },
        ],
      }),
    );
    assert.deepEqual(issues, [{ path: '/consumers/1/name', message: 'duplicate consumer batch' }]);
  });

  test('a duration a node timer cannot wait is refused: it would fire every millisecond', () => {
    // setInterval clamps a delay over 2^31-1 ms to 1 ms: `intervalMs: 2147483648` (or 1e12, "never")
    // probed every target ~1,000 times a second.
    const issues = issuesOf(file({}, { healthCheck: { path: '/healthz', intervalMs: 2 ** 31 } }));
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.path, '/services/0/healthCheck/intervalMs');
    for (const [key, value] of [
      ['timeouts', { connectMs: 1e12 }],
      ['timeouts', { headersMs: 1e12 }],
      ['timeouts', { bodyMs: 1e12 }],
      ['circuitBreaker', { openMs: 1e12 }],
    ] as const) {
      assert.equal(issuesOf(file({}, { [key]: value })).length, 1, `${key} ${JSON.stringify(value)}`);
    }
    const longest = { healthCheck: { path: '/healthz', intervalMs: 2 ** 31 - 1 } };
    assert.deepEqual(issuesOf(file({}, longest)), []);
  });

  test('a target with credentials in it is refused: they are never sent, and export would show them', () => {
    // undici does not turn `user:password@` into Authorization; the text stayed in the document that
    // `export` hands to every viewer.
    const issues = issuesOf(file({}, { targets: ['https://svc:s3cret@10.0.0.7:8443'] }));
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.path, '/services/0/targets/0');
    assert.ok(!JSON.stringify(issues).includes('s3cret'), 'the issue does not repeat the secret');
  });

  test("issues never carry the file's control characters: `validate` prints them to a terminal", async () => {
    // A file under review (a pull request) could otherwise rewrite the terminal that checks it: clear the
    // screen, recolour, or return the cursor and print "valid" over the verdict.
    const hostile = [
      `${file()}"\\e[2J\\e[1A\\rvalid\\x9b31m": 1\n`,
      `format_version: "1"\nservices: [\u001b]0;owned\u0007\n`,
      `format_version: "1"\nservices: []\nroutes: []\n${'x'.repeat(5000)}: 1\n`,
      // The pointer to a bad value names the file's own keys.
      file({ routes: [{ name: 'r', service: 'svc', paths: ['/x'], matchHeaders: { '\u001b[2J': 5 } }] }),
    ];
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point.
    const control = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/;
    for (const text of hostile) {
      const issues = issuesOf(text);
      assert.ok(issues.length > 0);
      for (const issue of issues) {
        assert.doesNotMatch(issue.message, control, JSON.stringify(issue));
        assert.ok(issue.message.length < 300, 'an issue does not carry the whole input');
      }
    }
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-routes-'));
    const path = join(dir, 'routes.yaml');
    writeFileSync(path, hostile[0] as string);
    let printed = '';
    const out = new Writable({
      write(chunk, _encoding, done) {
        printed += String(chunk);
        done();
      },
    });
    assert.equal(await gatewayValidate(path, out), 1);
    // A file that parses but does not compile: the CA file it names does not exist.
    writeFileSync(path, file({}, { tls: { caFile: '/nonexistent/\u001b[2J\u009b1A.pem' } }));
    assert.equal(await gatewayValidate(path, out), 1);
    assert.match(printed, /nonexistent/);
    assert.doesNotMatch(printed.replaceAll('\n', ''), control);
  });
  test('CORS values and health-check paths that cannot go into a header or a request line are refused', () => {
    const routeWith = (route: Record<string, unknown>, service: Record<string, unknown> = {}) =>
      stringify({
        format_version: '1',
        services: [{ name: 'svc', targets: ['http://127.0.0.1:9'], ...service }],
        routes: [{ name: 'r', service: 'svc', paths: ['/x'], ...route }],
      });
    const cors = (c: Record<string, unknown>) =>
      routeWith({ cors: { origins: ['https://app.example'], ...c } });
    assert.deepEqual(issuesOf(cors({ methods: ['GET', 'POST'], headers: ['X-Tenant'] })), []);
    assert.deepEqual(
      issuesOf(routeWith({ cors: { origins: ['https://[::1]:8443', 'http://a.example:80'] } })),
      [],
    );
    for (const bad of [
      cors({ methods: ['GET\r\nX-Evil: 1'] }),
      cors({ headers: ['x tenant'] }),
      routeWith({ cors: { origins: ['https://app.example\r\nSet-Cookie: a=b'] } }),
      routeWith({}, { healthCheck: { path: '/health check' } }),
      routeWith({}, { healthCheck: { path: '/health\r\nX: y' } }),
    ]) {
      assert.ok(issuesOf(bad).length > 0, bad);
    }
  });
});

describe('route diff', () => {
  test('routes that only change places are reported: the first match in file order wins', () => {
    // `/a/:id` and `/a/*` both match `/a/1`: which one serves it is decided by their order alone.
    const doc = (names: string[]) => {
      const parsed = parseRouteFile(
        stringify({
          format_version: '1',
          services: [{ name: 'svc', targets: ['http://127.0.0.1:9'] }],
          routes: names.map((n) => ({
            name: n,
            service: 'svc',
            paths: [n === 'one' ? '/a/:id' : '/a/*'],
          })),
        }),
      );
      assert.ok(parsed.ok);
      return parsed.document;
    };
    const before = doc(['one', 'all']);
    const after = doc(['all', 'one']);
    const table = (d: RouteDocument) =>
      new RouteTable(d, systemClock, () => {
        throw new Error('no limits here');
      });
    assert.notEqual(
      table(before).match('/a/1', 'h', {})?.route.name,
      table(after).match('/a/1', 'h', {})?.route.name,
    );
    assert.deepEqual(
      diffRouteDocuments(before, after)
        .map((c) => `${c.kind} ${c.name} ${c.change}`)
        .sort(),
      ['route all changed', 'route one changed'],
    );
    assert.deepEqual(diffRouteDocuments(before, doc(['one', 'all'])), []);
  });
});

describe('route hosts', () => {
  test('a host the request can never carry is refused; a trailing dot or capitals name the same host', () => {
    // The gateway compares the request's lower-cased host without port or trailing dot: a route naming a
    // port or a Kong-style wildcard never matched, and its traffic went to the next route that did.
    const withHosts = (hosts: string[]) =>
      stringify({
        format_version: '1',
        services: [{ name: 'svc', targets: ['http://127.0.0.1:9'] }],
        routes: [
          { name: 'internal', service: 'svc', paths: ['/x'], hosts, ipAllow: ['10.0.0.0/8'] },
          { name: 'public', service: 'svc', paths: ['/*'] },
        ],
      });
    for (const bad of [['api.example.com:8443'], ['*.example.com'], ['api example.com'], ['']]) {
      assert.ok(issuesOf(withHosts(bad)).length > 0, bad.join());
    }
    const parsed = parseRouteFile(withHosts(['Internal.Example.com.', '[::1]']));
    assert.ok(parsed.ok);
    const table = new RouteTable(parsed.document, systemClock, () => {
      throw new Error('no limits here');
    });
    assert.equal(table.match('/x', 'internal.example.com', {})?.route.name, 'internal');
    assert.equal(table.match('/x', '[::1]', {})?.route.name, 'internal');
  });
});

describe('route deprecation', () => {
  test('a deprecation or sunset date that is no RFC 3339 date-time is refused: it would be sent as NaN', () => {
    const withDeprecation = (deprecation: Record<string, string | undefined>) =>
      stringify({
        format_version: '1',
        services: [{ name: 'svc', targets: ['http://127.0.0.1:9'] }],
        routes: [{ name: 'r', service: 'svc', paths: ['/x'], deprecation }],
      });
    assert.deepEqual(
      issuesOf(
        withDeprecation({ deprecatedAt: '2026-06-01T00:00:00Z', sunsetAt: '2027-01-01T00:00:00+01:00' }),
      ),
      [],
    );
    for (const bad of [
      { deprecatedAt: 'next year' },
      { sunsetAt: '2027-13-45T00:00:00Z' },
      { sunsetAt: 'Fri, 01 Jan 2027 00:00:00 GMT' },
      { deprecatedAt: '2026-06-01' },
      // The link goes into a Link header: a line break failed every answer of the route, and `>` or a
      // space let the file write parameters of its own.
      { link: 'https://docs.example/v2\r\nSet-Cookie: a=b' },
      { link: 'https://docs.example/v2>; rel="next' },
      { link: 'https://docs.example/v 2' },
    ]) {
      assert.ok(issuesOf(withDeprecation(bad)).length > 0, JSON.stringify(bad));
    }
  });
});

describe('route stripPrefix', () => {
  test('a stripPrefix that could never be stripped is refused', () => {
    // The prefix is stripped when the path is it or starts with it and a `/`: one ending in `/` (or `/`
    // alone) never was, and the upstream got the whole path.
    const withStrip = (stripPrefix: string) =>
      stringify({
        format_version: '1',
        services: [{ name: 'svc', targets: ['http://127.0.0.1:9'] }],
        routes: [{ name: 'r', service: 'svc', paths: ['/api/*'], stripPrefix }],
      });
    assert.deepEqual(issuesOf(withStrip('/api')), []);
    assert.deepEqual(issuesOf(withStrip('/api/v1')), []);
    for (const bad of ['/api/', '/', '/api//v1']) assert.ok(issuesOf(withStrip(bad)).length > 0, bad);
  });
});

describe('route paths', () => {
  test('a path with a dot segment is refused: a canonical request path never has one', () => {
    const withPath = (path: string) =>
      stringify({
        format_version: '1',
        services: [{ name: 'svc', targets: ['http://127.0.0.1:9'] }],
        routes: [{ name: 'r', service: 'svc', paths: [path] }],
      });
    for (const good of ['/v1.2/items', '/.well-known/x', '/a/..b/:id', '/a/*']) {
      assert.deepEqual(issuesOf(withPath(good)), [], good);
    }
    for (const bad of ['/api/../admin', '/./x', '/x/.', '/x/..', '/a/./*']) {
      assert.ok(issuesOf(withPath(bad)).length > 0, bad);
    }
  });

  test('a parameter named twice in one path is refused: the params schema would check only the last', () => {
    // `/users/abc/posts/7` had params { id: '7' }: `abc` went upstream, never seen by the schema.
    const withPath = (path: string) =>
      stringify({
        format_version: '1',
        services: [{ name: 'svc', targets: ['http://127.0.0.1:9'] }],
        routes: [{ name: 'r', service: 'svc', paths: [path] }],
      });
    assert.deepEqual(issuesOf(withPath('/users/:id/posts/:pid')), []);
    for (const bad of ['/users/:id/posts/:id', '/:a/:a/*']) {
      assert.ok(issuesOf(withPath(bad)).length > 0, bad);
    }
  });

  test('a parameter named __proto__ is a parameter to the schema, not the prototype of the params', () => {
    // As for the query: a plain object dropped it, so its schema saw no value and any segment went upstream.
    const parsed = parseRouteFile(
      stringify({
        format_version: '1',
        services: [{ name: 'svc', targets: ['http://127.0.0.1:9'] }],
        routes: [{ name: 'r', service: 'svc', paths: ['/users/:__proto__'] }],
      }),
    );
    assert.ok(parsed.ok);
    const table = new RouteTable(parsed.document, systemClock, () => {
      throw new Error('no limits here');
    });
    const params = table.match('/users/abc', 'h', {})?.params ?? {};
    assert.ok(Object.hasOwn(params, '__proto__'));
    assert.equal(params['__proto__'], 'abc');
  });
});
