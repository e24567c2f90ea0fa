/**
 * Cost of one rate-limit decision per algorithm on the in-memory store, against rate-limiter-flexible's
 * RateLimiterMemory (the previous fixed-window implementation) as the baseline, in the same run; and the
 * same through the gateway's LocalCounters (the path of a `store: memory` rule since 2026-11-26).
 * Run: flock /tmp/bulwark-bench.lock node_modules/.bin/node bench/gateway/rate-limit.bench.ts
 */
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { systemClock } from '../../src/core/index.ts';
import type { Algorithm } from '../../src/gateway/limits/algorithms.ts';
import { LocalCounters } from '../../src/gateway/limits/counters.ts';
import { MemoryLimitStore } from '../../src/gateway/limits/memory-store.ts';

const N = Number(process.env['BENCH_OPS'] ?? 500_000);
const KEYS = 1000;
const keys = Array.from({ length: KEYS }, (_, i) => `ip:10.0.${i >> 8}.${i & 255}`);

async function time(label: string, op: (key: string) => unknown): Promise<number> {
  for (let i = 0; i < 20_000; i++) await op(keys[i % KEYS] as string); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await op(keys[i % KEYS] as string);
  const ns = Number(process.hrtime.bigint() - start) / N;
  console.log(`${label.padEnd(34)} ${ns.toFixed(0).padStart(6)} ns/decision`);
  return ns;
}

const params = { points: 1_000_000, durationMs: 60_000, capacity: 1_000_000 };
const flexible = new RateLimiterMemory({ points: params.points, duration: 60 });
const base = await time('rate-limiter-flexible (baseline)', (k) => flexible.consume(k, 1));
for (const algorithm of ['fixed-window', 'sliding-window', 'token-bucket'] as Algorithm[]) {
  const store = new MemoryLimitStore(algorithm, params, systemClock);
  const ns = await time(`memory ${algorithm}`, async (k) => store.consume(k));
  console.log(`${''.padEnd(34)} ratio to baseline: ${(ns / base).toFixed(2)}`);
  const counters = new LocalCounters(systemClock);
  const rule = { id: `bench:${algorithm}`, algorithm, params };
  const viaCounters = await time(`counters ${algorithm}`, async (k) => counters.consume(rule, k));
  console.log(`${''.padEnd(34)} ratio to baseline: ${(viaCounters / base).toFixed(2)}`);
}
