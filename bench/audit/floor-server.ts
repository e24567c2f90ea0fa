/**
 * The audit bench's Node floor (append.bench.ts): HTTPS on loopback with a certificate from the bench
 * home's local CA; POST /audit/v1/records parses the batch, hashes each record (SHA-256 of its JSON, as a
 * leaf would be), appends the lines to one file and fsyncs it before answering with an index per record
 * (group commit: batches that arrive during an fsync share the next one).
 * Nothing is validated and no tree is kept: the least any durable ingest in Node does per record.
 * Usage: node bench/audit/floor-server.ts <home>  (prints {"url": ...})
 */
import { hash } from 'node:crypto';
import { fsync, openSync, write } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { localServerCredentials } from '../../src/core/index.ts';

const home = process.argv[2] as string;
const { cert, key } = await localServerCredentials(home, 'audit-floor');
const fd = openSync(join(home, 'floor.log'), 'a');
const writeAsync = promisify(write);
const fsyncAsync = promisify(fsync);
let next = 0;

// Group commit with the write and fsync off the event loop (libuv's thread pool), as the audit service
// does: batches that arrive while one group is syncing share the next fsync, and parsing goes on meanwhile.
let waiting: { text: string; res: ServerResponse; answer: string }[] = [];
let syncing = false;
async function flush(): Promise<void> {
  syncing = true;
  while (waiting.length > 0) {
    const group = waiting;
    waiting = [];
    await writeAsync(fd, group.map((g) => g.text).join(''));
    await fsyncAsync(fd);
    for (const g of group) {
      g.res.setHeader('content-type', 'application/json');
      g.res.end(g.answer);
    }
  }
  syncing = false;
}

const server = createServer({ cert, key }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const { records } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { records: { id: string }[] };
    const lines: string[] = new Array(records.length);
    const results: { id: string; index: number }[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as { id: string };
      const line = JSON.stringify(r);
      lines[i] = `${hash('sha256', line)} ${line}`;
      results[i] = { id: r.id, index: next++ };
    }
    waiting.push({ text: `${lines.join('\n')}\n`, res, answer: JSON.stringify({ results }) });
    if (!syncing) void flush();
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ url: `https://127.0.0.1:${(server.address() as AddressInfo).port}` }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
