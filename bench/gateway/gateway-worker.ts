/**
 * One worker of the load run (forked by proxy.bench.ts through node:cluster). `BULWARK_BENCH_MODE`:
 * `gateway` runs the full chain; `fast-gateway` runs fast-gateway doing only proxying (the Node
 * baseline); `floor` runs the least a Node proxy can do (node:http + undici Pool, no checks).
 */
import * as http from 'node:http';
import { type Dispatcher, Pool } from 'undici';
import { benchGateway } from './bench-setup.ts';

const env = JSON.parse(process.env['BULWARK_BENCH_ENV'] ?? '{}');
const port = Number(process.env['BULWARK_BENCH_PORT']);

if (process.env['BULWARK_BENCH_MODE'] === 'fast-gateway') {
  // fast-gateway 3.x (5.x depends on a fast-proxy-lite release the registry does not serve).
  const { default: fastGateway } = (await import('fast-gateway')) as unknown as {
    default: (options: { routes: { prefix: string; pathRegex: string; target: string }[] }) => {
      start(port: number, host: string): Promise<unknown>;
    };
  };
  // pathRegex '' serves exactly /bench (its default '/*' would answer 404 to the bench's path).
  await fastGateway({ routes: [{ prefix: '/bench', pathRegex: '', target: env.upstream }] }).start(
    port,
    '127.0.0.1',
  );
  process.send?.('ready');
  process.on('disconnect', () => process.exit(0));
} else if (process.env['BULWARK_BENCH_MODE'] === 'floor') {
  const pool = new Pool(env.upstream, { connections: 64 });
  const server = http.createServer((req, res) => {
    pool.dispatch({ path: req.url ?? '/', method: 'GET', headers: { host: 'upstream' } }, {
      onRequestStart() {},
      onResponseStart(_c: unknown, status: number, headers: Record<string, string>) {
        res.writeHead(status, headers);
      },
      onResponseData(_c: unknown, chunk: Buffer) {
        res.write(chunk);
      },
      onResponseEnd() {
        res.end();
      },
      onResponseError(_c: unknown, err: Error) {
        res.destroy(err);
      },
    } as unknown as Dispatcher.DispatchHandler);
  });
  server.listen(port, '127.0.0.1', () => process.send?.('ready'));
  process.on('disconnect', () => process.exit(0));
} else {
  const gateway = benchGateway(env);
  await gateway.listen(port, '127.0.0.1');
  process.send?.('ready');
  process.on('disconnect', () => void gateway.close(100).then(() => process.exit(0)));
}
