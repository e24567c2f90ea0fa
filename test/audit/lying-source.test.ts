/**
 * `verifyLog` facing a lying audit server: a source whose answers are not a log at all must never be
 * reported as a verified one.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { signCheckpoint } from '../../src/audit/verifier/checkpoint.ts';
import { httpLogSource } from '../../src/audit/verifier/http-log-source.ts';
import { type LogSource, verifyLog } from '../../src/audit/verifier/log-verifier.ts';
import { signerFromSeed } from '../../src/audit/verifier/signed-note.ts';
import { CompactRange, leafHash } from '../../src/audit/verifier/tree-hash.ts';

const signer = signerFromSeed('audit.test', Buffer.alloc(32, 7));

/** An honest in-memory log of `n` records with one checkpoint at `signedAt`, then overridden answers. */
function source(n: number, signedAt: number, lie: Partial<Record<keyof LogSource, unknown>> = {}): LogSource {
  const bodies = Array.from({ length: n }, (_, i) => `{"id":"r${i}","index":${i}}`);
  const range = new CompactRange();
  for (const b of bodies.slice(0, signedAt)) range.append(leafHash(b));
  const note = signCheckpoint({ origin: signer.name, size: signedAt, root: range.root() }, signer);
  const honest: LogSource = {
    size: async () => n,
    minIndex: async () => 0,
    checkpoints: async () => (signedAt > 0 ? [note] : []),
    entries: async (s, e) => bodies.slice(s, e).map((body, k) => ({ index: s + k, body })),
    leafHashes: async (s, e) => Buffer.concat(bodies.slice(s, e).map((b) => leafHash(b))),
  };
  return { ...honest, ...(lie as Partial<LogSource>) };
}

describe('verifyLog against a lying source', () => {
  it('accepts the honest log', async () => {
    const r = await verifyLog(source(10, 10), { logKey: signer });
    assert.equal(r.ok, true, r.failure?.message);
  });

  for (const [what, size, min] of [
    ['no size at all', undefined, 0],
    ['a size that is not a number', 'ten', 0],
    ['a negative size', -5, 0],
    ['a fractional size', 9.5, 0],
    ['a floor above the size', 10, 20],
    ['a negative floor', 10, -1],
  ] as const) {
    it(`refuses ${what}`, async () => {
      const r = await verifyLog(source(10, 10, { size: async () => size, minIndex: async () => min }), {
        logKey: signer,
      });
      assert.equal(r.ok, false, `${what} passed as a verified log`);
    });
  }

  it('refuses records claimed pruned beyond every signed checkpoint (their hashes are unchecked)', async () => {
    // Nothing signed covers [0, 10): the hashes of "pruned" records are only the server's word.
    const r = await verifyLog(source(10, 0, { minIndex: async () => 10 }), { logKey: signer });
    assert.equal(r.ok, false, 'a wholly pruned, unsigned log passed');
    assert.equal(r.failure?.code, 'unsigned');
  });
});

describe('verifyLog names the first index that cannot be trusted', () => {
  it('a record changed below a checkpoint whose successor is unsigned garbage', async () => {
    // Checkpoints at 5 (genuine) and 10 (its signature broken); record 3 rewritten, leaf hashes to match.
    const honest = source(10, 5);
    const [good] = await honest.checkpoints();
    const bodies = (await honest.entries(0, 10)).map((e) => e.body);
    bodies[3] = bodies[3]!.replace('"r3"', '"x3"');
    const note = signCheckpoint({ origin: signer.name, size: 10, root: Buffer.alloc(32) }, signer);
    const [text, sigLine] = note.split('\n\n') as [string, string];
    const [dash, name, b64] = sigLine.trim().split(' ') as [string, string, string];
    const raw = Buffer.from(b64, 'base64');
    raw[10]! ^= 1; // a signature byte, not the key ID
    const broken = `${text}\n\n${dash} ${name} ${raw.toString('base64')}\n`;
    const r = await verifyLog(
      {
        ...honest,
        checkpoints: async () => [good!, broken],
        entries: async (s, e) => bodies.slice(s, e).map((body, k) => ({ index: s + k, body })),
        leafHashes: async (s, e) => Buffer.concat(bodies.slice(s, e).map((b) => leafHash(b))),
      },
      { logKey: signer },
    );
    assert.deepEqual([r.ok, r.failure?.code, r.failure?.index], [false, 'root_mismatch', 0]);
  });
});

describe('httpLogSource against a lying server', () => {
  it('does not page checkpoints for ever when a full page does not move past its cursor', async () => {
    const page = JSON.stringify({
      checkpoints: Array.from({ length: 10000 }, () => ({ size: 0, note: '' })),
    });
    const server = createServer((_req, res) => res.end(page));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const src = httpLogSource(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      const out = await Promise.race([
        src.checkpoints().then(
          () => 'answered',
          () => 'refused',
        ),
        new Promise((r) => setTimeout(() => r('still paging'), 3000)),
      ]);
      assert.equal(out, 'refused');
    } finally {
      await src.close();
      server.closeAllConnections();
      server.close();
    }
  });
});
