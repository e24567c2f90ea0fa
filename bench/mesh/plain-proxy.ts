/**
 * The hop benchmark's control: a bare Node HTTP reverse proxy (no TLS, no policy, no headers rewritten) to
 * `127.0.0.1:<port>`, in its own process. Two of them chained stand where the two sidecars stand, so the
 * benchmark can tell the sidecars' own cost from the cost of two more processes relaying every request.
 * Prints `proxy=<port>` once listening.
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

const next = Number(process.argv[2]);
if (!Number.isInteger(next)) throw new TypeError('usage: plain-proxy.ts <upstream port>');
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const server = createServer((req, res) => {
  const upstream = request(
    { host: '127.0.0.1', port: next, method: req.method, path: req.url, headers: req.headers, agent },
    (appRes) => {
      res.writeHead(appRes.statusCode ?? 502, appRes.headers);
      appRes.pipe(res);
    },
  );
  upstream.on('error', () => res.destroy());
  req.pipe(upstream);
});
// As the sidecars' mesh listener: connections stay open between bursts.
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`proxy=${(server.address() as AddressInfo).port}\n`),
);
process.once('SIGTERM', () => process.exit(0));
