/**
 * Rate limiters per route rule. The rule's `algorithm` (default `fixed-window`) picks the arithmetic
 * (algorithms.ts); its `store` picks where the counters live: in memory by default (the gateway's
 * {@link LimitCounters}: its own, or the component's for every worker behind the port), in this process
 * alone (`process`: no IPC with workers, each counting on its own), or in Redis (one atomic Lua round trip, shared by every gateway) when the rule says `store: redis`.
 * Fixed windows on Redis use rate-limiter-flexible's script; sliding windows and token buckets use ours
 * (redis-scripts.ts). A Redis failure surfaces as {@link StoreUnavailable}, so the stage can apply the
 * rule's fail-open/fail-closed.
 */
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Clock } from '../../core/index.ts';
import { gatewayError } from '../errors.ts';
import type { RateLimitSpec } from '../routes/route-file.ts';
import type { Limiter, LimiterFactory } from '../routes/route-table.ts';
import type { AlgorithmParams, LimitDecision } from './algorithms.ts';
import type { LimitCounters } from './counters.ts';
import { MemoryLimitStore } from './memory-store.ts';
import { redisScript } from './redis-scripts.ts';

export class StoreUnavailable extends Error {}

/**
 * How long a Redis decision may take. A Redis that stops answering (a partition that drops packets, a
 * stalled host) stays "ready" to its client, which would wait for good: past this it is an outage, and
 * the rule's fail-open or fail-closed applies, as when the component does not answer a worker.
 */
const REDIS_DEADLINE_MS = 1_000;

function withDeadline<T>(pending: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([pending, late]).finally(() => clearTimeout(timer));
}

export function createLimiterFactory(
  redis: Redis | undefined,
  prefix: string,
  counters: LimitCounters,
  clock: Clock,
  maxKeys?: number,
): LimiterFactory {
  return (routeName: string, index: number, spec: RateLimitSpec): Limiter => {
    const algorithm = spec.algorithm ?? 'fixed-window';
    const params: AlgorithmParams = {
      points: spec.points,
      durationMs: spec.durationSeconds * 1000,
      capacity: spec.capacity ?? spec.points,
    };
    const limit = algorithm === 'token-bucket' ? params.capacity : spec.points;
    const keyPrefix = `${prefix}:${routeName}:${index}`;
    if (spec.store === 'process') {
      const store = new MemoryLimitStore(algorithm, params, clock, maxKeys);
      return { spec, limit, consume: async (key) => store.consume(key) };
    }
    if (spec.store !== 'redis') {
      const rule = {
        id: `${keyPrefix}:${algorithm}:${params.points}:${params.durationMs}:${params.capacity}`,
        algorithm,
        params,
      };
      return {
        spec,
        limit,
        async consume(key) {
          try {
            return await counters.consume(rule, key);
          } catch (err) {
            // Only the component's counters, asked over IPC, can fail (no answer in time).
            throw new StoreUnavailable('rate-limit counters unavailable', { cause: err });
          }
        },
      };
    }
    if (!redis) {
      throw gatewayError(
        'gateway_route_file_invalid',
        `route ${routeName}: store redis needs components.gateway.redisUrl`,
      );
    }
    let consume: (key: string) => Promise<LimitDecision>;
    if (algorithm === 'fixed-window') {
      const impl = new RateLimiterRedis({
        points: spec.points,
        duration: spec.durationSeconds,
        keyPrefix,
        storeClient: redis,
        rejectIfRedisNotReady: true,
      });
      consume = async (key) => {
        try {
          const res = await impl.consume(key, 1);
          return {
            allowed: true,
            remaining: res.remainingPoints,
            resetMs: res.msBeforeNext,
            retryAfterMs: 0,
          };
        } catch (err) {
          if (err instanceof RateLimiterRes) {
            return {
              allowed: false,
              remaining: 0,
              resetMs: err.msBeforeNext,
              retryAfterMs: err.msBeforeNext,
            };
          }
          throw err;
        }
      };
    } else {
      const script = redisScript(redis, algorithm);
      const args = [params.points, params.durationMs, params.capacity];
      // The algorithm is part of the key: a rule switched to another algorithm never reads the old layout.
      consume = (key) => {
        // Fail fast instead of queueing while Redis is away (as rejectIfRedisNotReady does above).
        if (redis.status !== 'ready') return Promise.reject(new Error(`redis ${redis.status}`));
        return script(`${keyPrefix}:${algorithm}:${key}`, args);
      };
    }
    return {
      spec,
      limit,
      async consume(key: string) {
        try {
          return await withDeadline(consume(key), REDIS_DEADLINE_MS);
        } catch (err) {
          throw new StoreUnavailable('rate-limit store unavailable', { cause: err });
        }
      },
    };
  };
}
