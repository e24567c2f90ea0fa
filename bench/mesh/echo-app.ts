/**
 * The benchmark's application process: a plain HTTP echo server on loopback (the baseline target and the
 * app behind the orders sidecar) and a server-auth-only TLS listener (the handshake baseline).
 * Prints `http=<port> tls=<port>` once listening.
 */
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { localServerCredentials, secureContextOptions } from '../../src/core/index.ts';

const home = process.argv[2];
if (!home) throw new TypeError('usage: echo-app.ts <home>');
const body = Buffer.from(JSON.stringify({ ok: true, pad: 'x'.repeat(64) }));
const handler = (_req: unknown, res: import('node:http').ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
};
const http = createServer((req, res) => {
  req.resume();
  req.on('end', () => handler(req, res));
});
const creds = await localServerCredentials(home, 'bench-app');
const tls = createTlsServer(
  { ...secureContextOptions('TLSv1.2'), cert: creds.cert, key: creds.key },
  (req, res) => {
    req.resume();
    req.on('end', () => handler(req, res));
  },
);
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
process.stdout.write(
  `http=${(http.address() as AddressInfo).port} tls=${(tls.address() as AddressInfo).port}\n`,
);
process.once('SIGTERM', () => process.exit(0));
