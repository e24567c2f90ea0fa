import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createLogger, createRedactor, luhn, REDACTED, redactText } from './index.ts';

/** A logger writing into an array, so a test can search everything it wrote. */
function memoryLogger(redactKeys: string[] = []) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ level: 'trace', component: 'test', redactKeys, destination });
  return { logger, output: () => lines.join('') };
}

// Secrets that have a recognisable shape, generated fresh so they cannot collide with surrounding text.
const b64url = fc.string({
  unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'),
  minLength: 16,
  maxLength: 40,
});
const jwt = fc.tuple(b64url, b64url, b64url).map(([a, b, c]) => `eyJ${a}.eyJ${b}.${c}`);
const email = fc
  .tuple(fc.stringMatching(/^[a-z][a-z0-9.]{3,12}$/), fc.stringMatching(/^[a-z]{3,10}$/))
  .map(([u, d]) => `${u}@${d}.example`);
const card = fc
  .tuple(
    fc.constantFrom('4', '51', '37', '6011'),
    fc.integer({ min: 13, max: 19 }),
    fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 19, maxLength: 19 }),
  )
  .map(([prefix, length, digits]) => {
    const body = (prefix + digits.join('')).slice(0, length - 1);
    for (let check = 0; check <= 9; check++) if (luhn(body + check)) return body + check;
    throw new Error('unreachable');
  });
const opaque = fc.stringMatching(/^[A-Za-z0-9]{12,24}$/).map((s) => `S3cr3t${s}`);

const secretKeys = [
  'password',
  'Authorization',
  'cookie',
  'set-cookie',
  'client_secret',
  'apiKey',
  'x-api-key',
  'refresh_token',
  'privateKey',
];

/** An arbitrary JSON-ish value with `hole` somewhere inside, placed by key or by shape. */
function withSecret(secret: fc.Arbitrary<string>, byKey: boolean) {
  return fc
    .tuple(
      fc.jsonValue({ maxDepth: 3 }),
      secret,
      fc.constantFrom(...secretKeys),
      fc.array(fc.nat(), { maxLength: 4 }),
    )
    .map(([base, value, key, path]) => {
      const root: Record<string, unknown> = { data: base };
      let node: Record<string, unknown> = root;
      for (const step of path) {
        const next: Record<string, unknown> = {};
        node[`k${step}`] = step % 2 === 0 ? next : [next];
        node = next;
      }
      if (byKey) node[key] = value;
      else node[`note${path.length}`] = `before ${value} after`;
      return { root, value };
    });
}

describe('log redaction', () => {
  it('never writes a JWT, e-mail address or card number placed anywhere in a logged object', () => {
    fc.assert(
      fc.property(withSecret(fc.oneof(jwt, email, card), false), ({ root, value }) => {
        const { logger, output } = memoryLogger();
        logger.info(root, 'event');
        assert.ok(!output().includes(value), `leaked ${value}`);
      }),
      { numRuns: 300 },
    );
  });

  it('never writes the value of a secret-named key, whatever it looks like', () => {
    fc.assert(
      fc.property(withSecret(opaque, true), ({ root, value }) => {
        const { logger, output } = memoryLogger();
        logger.warn(root);
        assert.ok(!output().includes(value), `leaked ${value}`);
      }),
      { numRuns: 300 },
    );
  });

  it('redacts secrets in messages, interpolation arguments, errors and child bindings', () => {
    fc.assert(
      fc.property(fc.oneof(jwt, email, card), (value) => {
        const { logger, output } = memoryLogger();
        logger.info(`login by ${value}`);
        logger.info('user %s did it', value);
        logger.error(new Error(`bad token ${value}`));
        logger.error({ err: new Error('wrapped', { cause: new Error(value) }) }, 'failed');
        logger.child({ subject: value }).info('child');
        assert.ok(!output().includes(value), `leaked ${value}`);
      }),
      { numRuns: 100 },
    );
  });

  it('redacts credentials in URLs and authorization schemes', () => {
    const text = redactText(
      'GET /cb?code=abc123xyz&state=s1&access_token=tok999 Authorization: Bearer abcdef123456',
    );
    assert.doesNotMatch(text, /abc123xyz|tok999|abcdef123456/);
    assert.match(text, /state=s1/);
  });

  it('finds a card number glued to other digits, with spaces or dashes', () => {
    for (const text of [
      'order 12 4111 1111 1111 1111 done',
      'ref 99994111-1111-1111-1111',
      '5500005555555559',
    ]) {
      assert.doesNotMatch(redactText(text), /4111|5555555559/, text);
    }
  });

  it('keeps a request id whole although a digit run inside it passes the Luhn check', () => {
    // Seen in the end-to-end suite's logs: `"reqId":"1ba52427-[REDACTED]a46866ea067"`.
    const reqId = '1ba52427-3456-4789-9012-a46866ea0670';
    assert.deepEqual(createRedactor().redact({ reqId }), { reqId });
  });

  it('keeps ordinary text, numbers and non-card digit runs readable', () => {
    const redactor = createRedactor();
    const value = {
      status: 200,
      ms: 12.5,
      route: '/v1/items/:id',
      id: '1234567890',
      count: 42,
      note: 'order 12345',
    };
    assert.deepEqual(redactor.redact(value), value);
  });

  it('redacts extra keys named in configuration', () => {
    const { logger, output } = memoryLogger(['ssn']);
    logger.info({ patient: { SSN: '123-45-6789' } });
    assert.doesNotMatch(output(), /123-45-6789/);
    assert.match(output(), new RegExp(REDACTED.replace(/[[\]]/g, '\\$&')));
  });

  it('writes one JSON object per line with level, time, component and message', () => {
    const { logger, output } = memoryLogger();
    logger.info({ reqId: 'r1' }, 'hello');
    const line = JSON.parse(output().trim()) as Record<string, unknown>;
    assert.equal(line['level'], 'info');
    assert.equal(line['component'], 'test');
    assert.equal(line['msg'], 'hello');
    assert.equal(line['reqId'], 'r1');
    assert.ok(typeof line['time'] === 'string');
  });

  it('survives circular objects without throwing', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a['self'] = a;
    const { logger, output } = memoryLogger();
    logger.info(a);
    assert.match(output(), /Circular/);
  });
});

describe('log masking', () => {
  it('masks configured fields keeping their shape, and never lets a card number through a mask', () => {
    const redactor = createRedactor([], { ssn: 'ssn', cardNumber: 'last4', phone: 'phone' });
    const out = redactor.redact({
      patient: { SSN: '123-45-6789', card_number: '4111111111111111', phone: '+1 555 123 4567' },
    }) as {
      patient: Record<string, string>;
    };
    assert.equal(out.patient['SSN'], '***-**-6789');
    assert.doesNotMatch(JSON.stringify(out), /4111111111111111|123-45|555 123/);
  });
});

describe('log redaction under hostile input', () => {
  // Regression (security review): a quadratic e-mail regex let one long URL stall a component's event loop.
  it('redacts 64 KiB adversarial strings in linear time', () => {
    const hostile = [
      'a'.repeat(65_536),
      'a.'.repeat(32_768),
      'eyJ-'.repeat(16_384),
      `${'a'.repeat(65_000)}@`,
      '@a'.repeat(32_768),
      '1 '.repeat(32_768),
    ];
    for (const text of hostile) {
      const started = performance.now();
      redactText(text);
      const ms = performance.now() - started;
      assert.ok(ms < 100, `${JSON.stringify(text.slice(0, 12))}... took ${ms.toFixed(1)} ms`);
    }
  });

  it('still finds an e-mail address glued to other text, and cuts oversized strings', () => {
    assert.equal(redactText('to:alice.smith+x@mail.example.org;'), `to:${REDACTED};`);
    assert.equal(redactText(`${'x'.repeat(100)}bob@example.com`).includes('example.com'), false);
    const long = `${'a'.repeat(20_000)} carol@example.com`;
    assert.match(redactText(long), /\[truncated \d+ chars\]$/);
  });
});
