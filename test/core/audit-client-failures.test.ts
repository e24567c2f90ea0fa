/**
 * The core audit client against a scripted HTTP service: answers cut off mid-body, torn spool lines and
 * other failures the real audit service does not produce on demand. Nothing acknowledged may be lost.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createAuditClient, Spool } from '../../src/core/audit-client/index.ts';
import type { AuditEvent } from '../../src/core/index.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

async function serve(handler: Handler): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const event = (i: number): AuditEvent => ({
  actor: { type: 'user', id: `u${i}` },
  action: 'client.test',
  outcome: 'success',
  details: { i },
});

function spooledIds(directory: string): string[] {
  const spool = new Spool(directory, 'probe');
  return readdirSync(directory)
    .filter((f) => f.startsWith('audit-'))
    .flatMap((f) => spool.read(join(directory, f)).map((e) => e.id!));
}

describe('audit client failure side', () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.close();
  });

  it('spools a batch whose error answer is cut off mid-body instead of losing it', async () => {
    const { url, server } = await serve((_req, res) => {
      // A 503 whose body never arrives in full: the connection drops after the headers.
      res.writeHead(503, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"code":');
      setTimeout(() => res.destroy(), 5);
    });
    servers.push(server);
    const spoolDirectory = mkdtempSync(join(tmpdir(), 'bulwark-audit-client-'));
    const c = createAuditClient({ url, spoolDirectory, name: 'probe', attempts: 2, backoffMs: 5 });
    for (let i = 0; i < 3; i++) c.record(event(i));
    await c.flush();
    assert.equal(c.stats.spooled, 3);
    assert.equal(spooledIds(spoolDirectory).length, 3);
    await c.close();
  });

  it('keeps an event spooled after a torn line (crash mid-append) instead of gluing it to the fragment', () => {
    const directory = mkdtempSync(join(tmpdir(), 'bulwark-audit-spool-'));
    const spool = new Spool(directory, 'probe');
    // A crash while appending left half a line, never acknowledged; the restarted process spools on.
    appendFileSync(join(directory, 'audit-probe.jsonl'), '{"actor":{"type":"us');
    const acknowledged = [0, 1].map((i) => ({ ...event(i), id: `event-000${i}` }));
    spool.append(acknowledged);
    const [file] = spool.claim();
    assert.deepEqual(
      spool.read(file!).map((e) => e.id),
      ['event-0000', 'event-0001'],
      readFileSync(file!, 'utf8'),
    );
  });

  it('spools batches that pile up behind an unresponsive service instead of holding them all in memory', async () => {
    // The service accepts connections and never answers: every batch waits out its attempts.
    const { url, server } = await serve(() => undefined);
    servers.push(server);
    const spoolDirectory = mkdtempSync(join(tmpdir(), 'bulwark-audit-client-'));
    const c = createAuditClient({
      url,
      spoolDirectory,
      name: 'probe',
      batchSize: 2,
      attempts: 2,
      backoffMs: 10,
      requestTimeoutMs: 1500,
    });
    for (let i = 0; i < 200; i++) c.record(event(i));
    await new Promise((r) => setTimeout(r, 200));
    // 100 batches queued behind one that takes ~3 s: all but a bounded few are on disk already.
    assert.ok(c.stats.spooled >= 160, `only ${c.stats.spooled} of 200 events spooled`);
    server.close();
    server.closeAllConnections();
    await c.close();
    assert.equal(c.stats.spooled + c.stats.sent, 200);
    assert.equal(new Set(spooledIds(spoolDirectory)).size, 200);
  });
});
