/**
 * Open-loop load at a fixed rate: requests are sent on schedule whatever the previous ones do, and each
 * latency is measured from its scheduled start (so queueing delay counts; no coordinated omission).
 */
import { Pool } from 'undici';

export interface LoadResult {
  sent: number;
  failed: number;
  p50: number;
  p99: number;
  mean: number;
}

export async function fixedRate(
  url: string,
  ratePerSecond: number,
  seconds: number,
  connections = 16,
  warmupSeconds = 0,
): Promise<LoadResult> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
  // The warm-up runs on the same pool, so the measured window starts with its connections open (a new pool
  // per window would open 16 connections in its first milliseconds, a burst the steady state never sees).
  if (warmupSeconds > 0) await run(pool, target.pathname, ratePerSecond, warmupSeconds);
  const result = await run(pool, target.pathname, ratePerSecond, seconds);
  await pool.close();
  return result;
}

async function run(pool: Pool, path: string, ratePerSecond: number, seconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let failed = 0;
  const total = ratePerSecond * seconds;
  const interval = 1000 / ratePerSecond;
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  let sent = 0;
  while (sent < total) {
    const now = performance.now();
    while (sent < total && start + sent * interval <= now) {
      const scheduled = start + sent * interval;
      sent++;
      inflight.push(
        pool
          .request({ path, method: 'GET' })
          .then(async (res) => {
            await res.body.dump();
            if (res.statusCode !== 200) failed++;
            latencies.push(performance.now() - scheduled);
          })
          .catch(() => {
            failed++;
          }),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(inflight);
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return {
    sent,
    failed,
    p50: at(0.5),
    p99: at(0.99),
    mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
  };
}
