/**
 * Open-loop load at a fixed rate, by `openloop.c` (built here with the machine's C compiler on first use):
 * requests go out on schedule whatever the server does, and each latency is counted from the request's
 * scheduled time, so queueing is not hidden (no coordinated omission). The generator is C so that on a
 * 2-core machine it neither takes much of a core nor adds garbage-collector pauses to what it measures: a
 * Node (undici) generator measured nginx `return 200` at p50 0.8 ms / p99 4-26 ms at 1,000-6,000 req/s,
 * where this one measures 0.1 ms / 0.25-0.7 ms.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface LoadResult {
  sent: number;
  failed: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

const SOURCE = new URL('./openloop.c', import.meta.url);

/** The compiled generator, rebuilt whenever its source changes. */
function binary(): string {
  const source = readFileSync(SOURCE);
  const path = join(
    tmpdir(),
    `bulwark-openloop-${createHash('sha256').update(source).digest('hex').slice(0, 12)}`,
  );
  if (!existsSync(path)) execFileSync('cc', ['-O2', '-o', path, SOURCE.pathname], { stdio: 'inherit' });
  return path;
}

/**
 * GETs `url` (plain HTTP on IPv4) at `ratePerSecond` over up to `connections` keep-alive connections for
 * `warmupSeconds` (not counted), then for `seconds` (counted). Latencies in milliseconds.
 *
 * @example
 * const r = await openLoop('http://127.0.0.1:8080/', 1000, 10, 16, 2);
 * console.log(r.p50, r.p99);
 */
export async function openLoop(
  url: string,
  ratePerSecond: number,
  seconds: number,
  connections = 16,
  warmupSeconds = 0,
  headers: Record<string, string> = {},
): Promise<LoadResult> {
  const target = new URL(url);
  const { stdout } = await promisify(execFile)(binary(), [
    target.hostname,
    target.port || '80',
    `${target.pathname}${target.search}`,
    String(ratePerSecond),
    String(seconds),
    String(connections),
    String(warmupSeconds),
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ]);
  return JSON.parse(stdout) as LoadResult;
}
