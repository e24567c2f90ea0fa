/**
 * Rate limiters per route rule, on rate-limiter-flexible: in memory by default (per gateway process), or
 * in Redis (one atomic Lua round trip, shared by every gateway) when the rule says `store: redis`. A Redis
 * failure surfaces as {@link StoreUnavailable}, so the stage can apply the rule's fail-open/fail-closed.
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { gatewayError } from '../errors.ts';
import type { RateLimitSpec } from '../routes/route-file.ts';
import type { Limiter, LimiterFactory } from '../routes/route-table.ts';

export class StoreUnavailable extends Error {}

export function createLimiterFactory(redis: Redis | undefined, prefix = 'bulwark:gw'): LimiterFactory {
  return (routeName: string, index: number, spec: RateLimitSpec): Limiter => {
    const options = {
      points: spec.points,
      duration: spec.durationSeconds,
      keyPrefix: `${prefix}:${routeName}:${index}`,
    };
    let impl: RateLimiterMemory | RateLimiterRedis;
    if (spec.store === 'redis') {
      if (!redis) {
        throw gatewayError(
          'gateway_route_file_invalid',
          `route ${routeName}: store redis needs components.gateway.redisUrl`,
        );
      }
      impl = new RateLimiterRedis({ ...options, storeClient: redis, rejectIfRedisNotReady: true });
    } else {
      impl = new RateLimiterMemory(options);
    }
    return {
      spec,
      async consume(key: string) {
        try {
          const res = await impl.consume(key, 1);
          return { allowed: true, remaining: res.remainingPoints, resetMs: res.msBeforeNext };
        } catch (err) {
          if (err instanceof RateLimiterRes) {
            return { allowed: false, remaining: 0, resetMs: err.msBeforeNext };
          }
          throw new StoreUnavailable('rate-limit store unavailable', { cause: err });
        }
      },
    };
  };
}
