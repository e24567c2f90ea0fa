/**
 * The audit bench's Node floor (append.bench.ts): HTTPS on loopback with a certificate from the bench
 * home's local CA; POST /audit/v1/records parses the batch, hashes each record (SHA-256 of its JSON, as a
 * leaf would be), appends the lines to one file and fsyncs it before answering with an index per record.
 * Nothing is validated and no tree is kept: the least any durable ingest in Node does per record.
 * Usage: node bench/audit/floor-server.ts <home>  (prints {"url": ...})
 */
import { hash } from 'node:crypto';
import { fsyncSync, openSync, writeSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { localServerCredentials } from '../../src/core/index.ts';

const home = process.argv[2] as string;
const { cert, key } = await localServerCredentials(home, 'audit-floor');
const fd = openSync(join(home, 'floor.log'), 'a');
let next = 0;

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
    writeSync(fd, `${lines.join('\n')}\n`);
    fsyncSync(fd);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ results }));
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ url: `https://127.0.0.1:${(server.address() as AddressInfo).port}` }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
