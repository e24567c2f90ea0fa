/**
 * Identity hot paths under load, each beside a baseline measured in the same run on the same machine:
 * a bare fastify HTTPS JSON endpoint (same TLS, same certificate). The servers run in child processes
 * (one core each at most: Node serves on one thread), the load generator here, with keep-alive
 * connections and a fixed number of requests in flight.
 *
 *   client-credentials tokens/s   POST /oidc/token (client_secret_basic, JWT access token, ES256)
 *   introspection/s               POST /oidc/token/introspection of a JWT access token
 *   password logins/s             authorization request + login page + password POST (Argon2id verify)
 *
 * Run: flock /tmp/bulwark-bench.lock node_modules/.bin/node bench/identity/tokens.bench.ts
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Agent, Pool, request } from 'undici';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const IN_FLIGHT = Number(process.env['BENCH_IN_FLIGHT'] ?? 32);
const self = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------- server children
async function serveIdentity(home: string): Promise<void> {
  const { buildConfigSchema, loadConfig, runComponent } = await import('../../src/core/index.ts');
  const { IDENTITY_CONFIG, identityComponent, adminCredentialsPath } = await import(
    '../../src/identity/index.ts'
  );
  const file = join(home, 'bulwark.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      log: { level: 'silent' },
      components: { identity: { port: 0, bruteForce: { ipFree: 200, ipCap: 500 } } },
    }),
  );
  const config = loadConfig(
    buildConfigSchema([{ name: 'identity', defaultPort: 0, properties: IDENTITY_CONFIG }]),
    { file, env: { BULWARK_HOME: home } },
  );
  let events = 0;
  const audit = { record: () => void events++, flush: async () => undefined, close: async () => undefined };
  const running = await runComponent(identityComponent, config, { port: 0, audit });
  process.once('SIGTERM', () => void running.stop().then(() => process.exit(0)));
  process.stdout.write(`${JSON.stringify({ url: running.url, credentials: adminCredentialsPath(home) })}\n`);
}

async function serveBaseline(home: string): Promise<void> {
  const { default: Fastify } = await import('fastify');
  const { localServerCredentials, secureContextOptions } = await import('../../src/core/index.ts');
  const creds = await localServerCredentials(home, 'identity');
  const app = Fastify({ https: { cert: creds.cert, key: creds.key, ...secureContextOptions('TLSv1.2') } });
  app.get('/json', async () => ({ ok: true, token_type: 'Bearer' }));
  app.post('/json', async () => ({ active: true }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  process.stdout.write(`${JSON.stringify({ url: `https://127.0.0.1:${port}` })}\n`);
}

if (process.argv[2] === 'serve-identity') await serveIdentity(process.argv[3]!);
else if (process.argv[2] === 'serve-baseline') await serveBaseline(process.argv[3]!);
else await main();

// ---------------------------------------------------------------- load generator
function start(kind: string, home: string): Promise<{ child: ChildProcess; info: Record<string, string> }> {
  // BENCH_PROFILE=1 writes a CPU profile of the identity server (node --cpu-prof) into the temp home.
  const profile =
    process.env['BENCH_PROFILE'] && kind === 'serve-identity' ? ['--cpu-prof', `--cpu-prof-dir=${home}`] : [];
  const child = spawn(process.execPath, [...profile, self, kind, home], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve({ child, info: JSON.parse(line) as Record<string, string> }));
    child.once('exit', (code) => reject(new Error(`${kind} exited with ${code}`)));
  });
}

/** Closed loop: IN_FLIGHT workers each send the next request when the previous one answered. */
async function measure(
  name: string,
  once: () => Promise<boolean>,
  seconds = SECONDS,
  inFlight = IN_FLIGHT,
): Promise<number> {
  // BENCH_ONLY=<substring> runs only the matching measurements (and the baseline), e.g. for a profile.
  const only = process.env['BENCH_ONLY'];
  if (only && !name.includes(only) && !name.startsWith('baseline')) return Number.NaN;
  const warm = Date.now() + 1000;
  while (Date.now() < warm) await Promise.all(Array.from({ length: Math.min(inFlight, 8) }, once));
  let ok = 0;
  let failed = 0;
  const until = performance.now() + seconds * 1000;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < until) {
        if (await once()) ok++;
        else failed++;
      }
    }),
  );
  const rate = ok / ((performance.now() - began) / 1000);
  process.stdout.write(
    `  ${name.padEnd(34)} ${rate.toFixed(0).padStart(7)} /s${failed ? `  (${failed} failed)` : ''}\n`,
  );
  return rate;
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'bulwark-bench-identity-'));
  const identity = await start('serve-identity', home);
  const baseline = await start('serve-baseline', home);
  const ca = readFileSync(join(home, 'tls', 'ca.crt'), 'utf8');
  const url = identity.info['url']!;
  const pool = new Pool(url, { connections: IN_FLIGHT, connect: { ca } });
  const basePool = new Pool(baseline.info['url']!, { connections: IN_FLIGHT, connect: { ca } });
  const agent = new Agent({ connect: { ca } });
  try {
    const creds = JSON.parse(readFileSync(identity.info['credentials']!, 'utf8')) as {
      clientId: string;
      clientSecret: string;
    };
    const basic = (id: string, secret: string) =>
      `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    const admin = await tokenFor(
      pool,
      basic(creds.clientId, creds.clientSecret),
      'resource=urn%3Abulwark%3Aidentity&scope=identity%3Aadmin',
    );
    const api = async (method: string, path: string, body: unknown) => {
      const res = await request(`${url}${path}`, {
        method: method as 'POST',
        dispatcher: agent,
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return (await res.body.json()) as Record<string, string>;
    };
    const svc = await api('POST', '/admin/clients', { name: 'bench', kind: 'service', introspection: true });
    const svcAuth = basic(svc['clientId']!, svc['clientSecret']!);
    const web = await api('POST', '/admin/clients', {
      name: 'web',
      kind: 'web',
      redirectUris: ['https://rp.example.test/cb'],
    });
    await api('POST', '/admin/users', { username: 'loadtest', password: 'quiet harbour lanterns at dusk' });
    const jwt = await tokenFor(pool, svcAuth, '');

    process.stdout.write(
      `identity benchmarks (${SECONDS} s each, ${IN_FLIGHT} in flight, HTTPS keep-alive)\n`,
    );
    const base = await measure('baseline: fastify JSON GET', async () => {
      const res = await basePool.request({ method: 'GET', path: '/json' });
      await res.body.dump();
      return res.statusCode === 200;
    });
    const cc = await measure('client-credentials tokens', async () => {
      const res = await pool.request({
        method: 'POST',
        path: '/oidc/token',
        headers: { authorization: svcAuth, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      await res.body.dump();
      return res.statusCode === 200;
    });
    const introBody = `token=${jwt}`;
    const intro = await measure('introspection (JWT)', async () => {
      const res = await pool.request({
        method: 'POST',
        path: '/oidc/token/introspection',
        headers: { authorization: svcAuth, 'content-type': 'application/x-www-form-urlencoded' },
        body: introBody,
      });
      // A substring check instead of JSON.parse keeps the load generator from being the bottleneck.
      return (await res.body.text()).includes('"active":true');
    });
    const login = await measure(
      'password logins (Argon2id)',
      () => passwordLogin(url, agent, web['clientId']!),
      SECONDS,
      8,
    );
    process.stdout.write('\nratios to the baseline (same run, same machine):\n');
    process.stdout.write(
      `  client-credentials ${(cc / base).toFixed(3)}x  (goal >= 1500/s: ${cc >= 1500 ? 'met' : 'NOT met'})\n`,
    );
    process.stdout.write(
      `  introspection      ${(intro / base).toFixed(3)}x  (goal >= 10000/s: ${intro >= 10000 ? 'met' : 'NOT met'})\n`,
    );
    process.stdout.write(
      `  password logins    ${(login / base).toFixed(4)}x  (Argon2id m=19456 KiB, t=2, p=1)\n`,
    );
  } finally {
    await pool.close();
    await basePool.close();
    await agent.close();
    identity.child.kill('SIGTERM');
    baseline.child.kill('SIGTERM');
  }
}

async function tokenFor(pool: Pool, auth: string, extra: string): Promise<string> {
  const res = await pool.request({
    method: 'POST',
    path: '/oidc/token',
    headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
    body: `grant_type=client_credentials${extra ? `&${extra}` : ''}`,
  });
  const json = (await res.body.json()) as { access_token?: string };
  if (!json.access_token) throw new Error(`no token: ${JSON.stringify(json)}`);
  return json.access_token;
}

/** One sign-in up to the accepted password: authorization request, login page, form post. */
async function passwordLogin(url: string, agent: Agent, clientId: string): Promise<boolean> {
  const cookies = new Map<string, string>();
  const jar = (headers: Record<string, string | string[] | undefined>) => {
    const set = headers['set-cookie'];
    for (const line of Array.isArray(set) ? set : set ? [set] : []) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
  };
  const cookie = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const auth = new URL(`${url}/oidc/auth`);
  auth.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: 'https://rp.example.test/cb',
    scope: 'openid',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  }).toString();
  const first = await request(auth, { dispatcher: agent });
  await first.body.dump();
  jar(first.headers);
  const pageUrl = new URL(String(first.headers['location']), url);
  const page = await request(pageUrl, { dispatcher: agent, headers: { cookie: cookie() } });
  const html = await page.body.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
  const post = await request(`${pageUrl.href}/login`, {
    method: 'POST',
    dispatcher: agent,
    headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded', origin: url },
    body: new URLSearchParams({
      login: 'loadtest',
      password: 'quiet harbour lanterns at dusk',
      csrf,
    }).toString(),
  });
  await post.body.dump();
  return post.statusCode === 303;
}
