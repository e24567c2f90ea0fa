/**
 * Gateway load run (issue 7, "Performance"): the full chain (canonical request, route, IP/limit checks,
 * JWT verification with the verified-token cache, Cedar decision, rate limit, metrics, audit sampling,
 * identity assertion, undici upstream) against nginx doing a bare `proxy_pass`, in the same run, to the
 * same trivial upstream (an nginx `return 200`), against fast-gateway doing only proxying, and against the
 * least a Node proxy does (node:http + undici, no checks). wrk drives all of them. Then a single in-process
 * gateway with stage timing on gives each stage's cost.
 *
 * Run: flock /tmp/bulwark-bench.lock node_modules/.bin/node bench/gateway/proxy.bench.ts
 */
import { spawn } from 'node:child_process';
import cluster from 'node:cluster';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { buildConfigSchema, loadConfig, runComponent } from '../../src/core/index.ts';
import { GATEWAY_CONFIG, gatewayComponent } from '../../src/gateway/index.ts';
import { startIssuer } from '../../test/gateway/fixtures/issuer.ts';
import { openLoop } from '../tools/openloop.ts';
import { BENCH_POLICY, BENCH_ROUTES, type BenchEnv, benchGateway, CountingAuditSink } from './bench-setup.ts';

const DURATION = process.env['BENCH_DURATION'] ?? '10s';
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 64);
const WORKERS = Number(process.env['BENCH_WORKERS'] ?? 2);
const HALF_RATE_SECONDS = Number(process.env['BENCH_HALF_RATE_SECONDS'] ?? 10);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface WrkResult {
  rps: number;
  p50: string;
  p99: string;
  errors: string;
}

/** wrk as a child process (asynchronously: the issuer and the profiled gateway live in this process). */
async function wrk(
  url: string,
  token: string | undefined,
  connections: number,
  duration: string,
): Promise<WrkResult> {
  const args = [
    '-t',
    '1',
    '-c',
    String(connections),
    '-d',
    duration,
    '--latency',
    ...(token ? ['-H', `Authorization: Bearer ${token}`] : []),
    url,
  ];
  const child = spawn('wrk', args);
  let text = '';
  child.stdout.on('data', (d: Buffer) => {
    text += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`wrk failed with ${code}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? 0);
  const p50 = /50%\s+([\d.]+\w+)/.exec(text)?.[1] ?? '?';
  const p99 = /99%\s+([\d.]+\w+)/.exec(text)?.[1] ?? '?';
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1];
  const socket = /Socket errors: ([^\n]+)/.exec(text)?.[1];
  return {
    rps,
    p50,
    p99,
    errors: [non2xx ? `non-2xx ${non2xx}` : '', socket ?? ''].filter(Boolean).join('; ') || 'none',
  };
}

async function startNginx(upstreamPort: number, proxyPort: number) {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-nginx-'));
  const conf = `worker_processes ${WORKERS};
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream trivial { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server { listen 127.0.0.1:${upstreamPort}; location / { return 200 '{"ok":true}'; } }
  server {
    listen 127.0.0.1:${proxyPort};
    location / { proxy_pass http://trivial; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'inherit' });
  await new Promise((r) => setTimeout(r, 500));
  return child;
}

/**
 * The gateway component as `bulwark run gateway` starts it, plain HTTP on loopback like the other
 * proxies here, with the bench's routes and policy, `workers` processes, 1% of allows audited.
 */
async function startComponent(home: string, env: BenchEnv, workers: number) {
  const dir = mkdtempSync(join(home, 'component-'));
  writeFileSync(join(dir, 'routes.yaml'), stringify(BENCH_ROUTES(env.upstream)));
  writeFileSync(join(dir, 'bench.cedar'), BENCH_POLICY);
  const file = join(dir, 'bulwark.yaml');
  writeFileSync(
    file,
    stringify({
      home: dir,
      mode: 'development',
      log: { level: 'silent' },
      server: { tls: { enabled: false } },
      components: {
        gateway: {
          publicPort: await freePort(),
          workers,
          routesFile: join(dir, 'routes.yaml'),
          policyFiles: [join(dir, 'bench.cedar')],
          issuers: [
            {
              issuer: env.issuer,
              audiences: ['bench'],
              algorithms: ['ES256'],
              typ: 'at+jwt',
              caFile: env.caFile,
            },
          ],
          auditAllowSampleRate: 0.01,
        },
      },
    }),
  );
  const schema = buildConfigSchema([
    { name: 'gateway', defaultPort: gatewayComponent.defaultPort, properties: GATEWAY_CONFIG },
  ]);
  const running = await runComponent(gatewayComponent, loadConfig(schema, { file, env: {} }), {
    port: 0,
    audit: new CountingAuditSink(),
  });
  return { url: running.endpoints['public'] ?? '', stop: () => running.stop() };
}

if (cluster.isPrimary) {
  const home = mkdtempSync(join(tmpdir(), 'bulwark-bench-'));
  const issuer = await startIssuer(home);
  const upstreamPort = await freePort();
  const nginxPort = await freePort();
  const gatewayPort = await freePort();
  const nginx = await startNginx(upstreamPort, nginxPort);
  const env = {
    issuer: issuer.issuer,
    caFile: join(home, 'tls', 'ca.crt'),
    upstream: `http://127.0.0.1:${upstreamPort}`,
  };
  const token = await issuer.sign({ aud: 'bench', roles: ['clerk'], tenant: 'acme' }, { expiresIn: '1h' });
  try {
    const direct = await wrk(`http://127.0.0.1:${upstreamPort}/bench`, undefined, CONNECTIONS, DURATION);
    const viaNginx = await wrk(`http://127.0.0.1:${nginxPort}/bench`, undefined, CONNECTIONS, DURATION);

    // The policy must be set before setupPrimary/fork (node docs): workers accept their own connections.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./gateway-worker.ts', import.meta.url)) });
    const startWorkers = async (mode: string, port: number) => {
      const workers = Array.from({ length: WORKERS }, () =>
        cluster.fork({
          BULWARK_BENCH_ENV: JSON.stringify(env),
          BULWARK_BENCH_PORT: String(port),
          BULWARK_BENCH_MODE: mode,
        }),
      );
      await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))));
      return async () => {
        for (const w of workers) w.disconnect();
        await new Promise((r) => setTimeout(r, 300));
      };
    };
    const floorPort = await freePort();
    const stopFloor = await startWorkers('floor', floorPort);
    await wrk(`http://127.0.0.1:${floorPort}/bench`, undefined, 8, '2s');
    const nodeFloor = await wrk(`http://127.0.0.1:${floorPort}/bench`, undefined, CONNECTIONS, DURATION);
    await stopFloor();

    const fastPort = await freePort();
    const stopFast = await startWorkers('fast-gateway', fastPort);
    await wrk(`http://127.0.0.1:${fastPort}/bench`, undefined, 8, '2s');
    const fastGateway = await wrk(`http://127.0.0.1:${fastPort}/bench`, undefined, CONNECTIONS, DURATION);
    await stopFast();
    // A baseline that answers errors fast would make every ratio meaningless.
    for (const [name, run] of Object.entries({ nginx: viaNginx, nodeFloor, fastGateway })) {
      if (run.errors !== 'none') throw new Error(`${name} baseline answered errors: ${run.errors}`);
    }

    const stopGateway = await startWorkers('gateway', gatewayPort);
    const gwUrl = `http://127.0.0.1:${gatewayPort}/bench`;
    await wrk(gwUrl, token, 8, '2s'); // warm-up: JWKS fetch, token cache, JIT
    const viaGateway = await wrk(gwUrl, token, CONNECTIONS, DURATION);
    const bareGateway = await wrk(`http://127.0.0.1:${gatewayPort}/bare`, undefined, CONNECTIONS, DURATION);
    const lowNginx = await wrk(`http://127.0.0.1:${nginxPort}/bench`, undefined, 4, '5s');
    const lowGateway = await wrk(gwUrl, token, 4, '5s');
    // Latency at half the full chain's maximum rate, open loop (each latency counted from the request's
    // scheduled time, as wrk2 does): the upstream alone, nginx, and the full chain, at the same rate.
    const halfRate = Math.round(viaGateway.rps / 2);
    const atHalf = async (url: string, headers: Record<string, string> = {}) => {
      const r = await openLoop(url, halfRate, HALF_RATE_SECONDS, CONNECTIONS, 2, headers);
      if (r.failed > 0) throw new Error(`${url}: ${r.failed} of ${r.sent} requests failed at ${halfRate}/s`);
      return { p50: +r.p50.toFixed(3), p99: +r.p99.toFixed(3) };
    };
    const halfDirect = await atHalf(`http://127.0.0.1:${upstreamPort}/bench`);
    const halfNginx = await atHalf(`http://127.0.0.1:${nginxPort}/bench`);
    const halfGateway = await atHalf(gwUrl, { authorization: `Bearer ${token}` });
    await stopGateway();
    // The least a Node proxy adds at the same rate: the tail that is Node's, not the chain's.
    const stopHalfFloor = await startWorkers('floor', floorPort);
    await wrk(`http://127.0.0.1:${floorPort}/bench`, undefined, 8, '2s');
    const halfFloor = await atHalf(`http://127.0.0.1:${floorPort}/bench`);
    await stopHalfFloor();

    // The same chain as the product runs it: the gateway component with `workers` (its own worker
    // processes on one SO_REUSEPORT port, state handed over by IPC), not node:cluster around the class.
    const component = await startComponent(home, env, WORKERS);
    const componentUrl = `${component.url}/bench`;
    await wrk(componentUrl, token, 8, '2s');
    const viaComponent = await wrk(componentUrl, token, CONNECTIONS, DURATION);
    await component.stop();

    // Stage costs: one in-process gateway with stage timing on.
    const profiled = benchGateway(env, true);
    const profiledUrl = await profiled.listen(0);
    await wrk(`${profiledUrl}/bench`, token, 8, '2s');
    profiled.runtime.stageTotals.clear();
    const single = await wrk(`${profiledUrl}/bench`, token, 16, '5s');
    const stages = [...profiled.runtime.stageTotals].map(([name, t]) => ({
      stage: name,
      meanMicros: +(t.ns / t.count / 1000).toFixed(1),
    }));
    await profiled.close(100);

    const ratio = viaGateway.rps / viaNginx.rps;
    const report = {
      machine: `${(await import('node:os')).cpus().length} cores, node ${process.version}`,
      connections: CONNECTIONS,
      duration: DURATION,
      gatewayWorkers: WORKERS,
      upstreamDirect: direct,
      nginxProxyPass: viaNginx,
      nodeFloorProxy: nodeFloor,
      fastGatewayProxyOnly: fastGateway,
      gatewayNoChecks: bareGateway,
      gatewayFullChain: viaGateway,
      gatewayComponentWorkers: viaComponent,
      ratioComponentToNginx: +(viaComponent.rps / viaNginx.rps).toFixed(3),
      ratioComponentToFastGateway: +(viaComponent.rps / fastGateway.rps).toFixed(3),
      ratioToNginx: +ratio.toFixed(3),
      ratioToNodeFloor: +(viaGateway.rps / nodeFloor.rps).toFixed(3),
      ratioToFastGateway: +(viaGateway.rps / fastGateway.rps).toFixed(3),
      goalMet: ratio >= 0.5 && viaGateway.rps >= fastGateway.rps,
      latencyAt4Connections: { nginx: lowNginx, gateway: lowGateway },
      halfMaxRate: {
        rate: halfRate,
        seconds: HALF_RATE_SECONDS,
        msUpstreamDirect: halfDirect,
        msNginx: halfNginx,
        msNodeFloor: halfFloor,
        msGatewayFullChain: halfGateway,
        addedByGatewayP99: +(halfGateway.p99 - halfDirect.p99).toFixed(3),
        addedByNginxP99: +(halfNginx.p99 - halfDirect.p99).toFixed(3),
        addedByNodeFloorP99: +(halfFloor.p99 - halfDirect.p99).toFixed(3),
        goalMet: halfGateway.p99 - halfDirect.p99 < 1,
      },
      singleProcessGateway: single,
      stageMeanMicros: stages,
    };
    console.log(JSON.stringify(report, null, 2));
  } finally {
    nginx.kill('SIGTERM');
    await issuer.close();
  }
  process.exit(0);
}
