/**
 * The sliding-window and token-bucket algorithms of algorithms.ts as Redis Lua scripts: one EVALSHA per
 * request, atomic (Redis runs a script without interleaving), so gateways sharing a Redis never together
 * exceed a limit. Time is Redis's own (TIME), one clock for every gateway; Redis 5+ replicates script
 * effects, so a non-deterministic TIME is allowed. Each script returns {allowed, remaining, resetMs, retryMs}.
 */
import type { Redis } from 'ioredis';
import type { Algorithm, LimitDecision } from './algorithms.ts';

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS[1] hash {w, c, p}; ARGV: points, durationMs. */
const SLIDING = `${NOW}
local limit = tonumber(ARGV[1])
local d = tonumber(ARGV[2])
local w = math.floor(now / d)
local s = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local sw, curr, prev = tonumber(s[1]), tonumber(s[2]) or 0, tonumber(s[3]) or 0
if sw == nil or w > sw + 1 then curr, prev = 0, 0
elseif w == sw + 1 then prev, curr = curr, 0 end
local f = (now - w * d) / d
if prev * (1 - f) + curr + 1 > limit then
  local retry
  if curr + 1 <= limit and prev > 0 then
    retry = math.ceil((1 - (limit - 1 - curr) / prev - f) * d)
  else
    local g = 0
    if curr > 0 then g = math.max(0, 1 - (limit - 1) / curr) end
    retry = math.ceil((1 - f) * d + g * d)
  end
  retry = math.max(1, retry)
  redis.call('HSET', KEYS[1], 'w', w, 'c', curr, 'p', prev)
  redis.call('PEXPIREAT', KEYS[1], (w + 2) * d)
  return {0, 0, retry, retry}
end
curr = curr + 1
redis.call('HSET', KEYS[1], 'w', w, 'c', curr, 'p', prev)
redis.call('PEXPIREAT', KEYS[1], (w + 2) * d)
local remaining = math.max(0, math.floor(limit - (prev * (1 - f) + curr)))
return {1, remaining, (w + 2) * d - now, 0}`;

/** KEYS[1] hash {tk, ts}; ARGV: points, durationMs, capacity. */
const BUCKET = `${NOW}
local rate = tonumber(ARGV[1]) / tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'tk', 'ts')
local tokens, ts = tonumber(s[1]), tonumber(s[2])
if tokens == nil or ts == nil then tokens, ts = cap, now end
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local allowed, retry = 0, 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1
else retry = math.max(1, math.ceil((1 - tokens) / rate)) end
local full = math.ceil((cap - tokens) / rate)
redis.call('HSET', KEYS[1], 'tk', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], full + 1000)
if allowed == 1 then return {1, math.floor(tokens), full, 0} end
return {0, 0, retry, retry}`;

const COMMANDS = { 'sliding-window': 'bulwarkSlidingWindow', 'token-bucket': 'bulwarkTokenBucket' } as const;
const defined = new WeakSet<Redis>();

type ScriptCall = (key: string, ...args: (string | number)[]) => Promise<[number, number, number, number]>;

/** Returns a one-round-trip consume for `algorithm` on `redis` (scripts loaded once per client). */
export function redisScript(
  redis: Redis,
  algorithm: Exclude<Algorithm, 'fixed-window'>,
): (key: string, args: (string | number)[]) => Promise<LimitDecision> {
  if (!defined.has(redis)) {
    redis.defineCommand(COMMANDS['sliding-window'], { numberOfKeys: 1, lua: SLIDING });
    redis.defineCommand(COMMANDS['token-bucket'], { numberOfKeys: 1, lua: BUCKET });
    defined.add(redis);
  }
  const name = COMMANDS[algorithm];
  return async (key, args) => {
    const call = (redis as unknown as Record<string, ScriptCall>)[name] as ScriptCall;
    const [allowed, remaining, resetMs, retryAfterMs] = await call.call(redis, key, ...args);
    return { allowed: allowed === 1, remaining, resetMs, retryAfterMs };
  };
}
