/**
 * The three rate-limit algorithms as pure state transitions, shared by the in-memory store and mirrored by
 * the Redis Lua scripts (redis-scripts.ts), so both stores answer the same way for the same history.
 *
 * - `fixed-window`: `points` per `durationSeconds`, the window starting at a key's first request. Cheap, but
 *   a client can spend the budget at the end of one window and again at the start of the next (2x burst).
 * - `sliding-window`: the weighted two-window approximation (Cloudflare, Envoy): the previous window's
 *   count weighted by how much of it still overlaps the sliding interval, plus the current count. No 2x burst.
 * - `token-bucket`: a bucket of `capacity` tokens (default `points`) refilled at `points / durationSeconds`
 *   per second; one request takes one token. Allows bursts up to `capacity`, then the refill rate.
 *
 * Every decision reports `resetMs` (time until the full quota is back; RateLimit-Reset) and, when refused,
 * `retryAfterMs` (time until one more request would be allowed; Retry-After).
 */
export type Algorithm = 'fixed-window' | 'sliding-window' | 'token-bucket';

export interface LimitDecision {
  allowed: boolean;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

export interface AlgorithmParams {
  points: number;
  durationMs: number;
  /** Token bucket only: maximum tokens (default `points`). */
  capacity: number;
}

export interface FixedState {
  start: number;
  count: number;
}
export interface SlidingState {
  window: number;
  curr: number;
  prev: number;
}
export interface BucketState {
  tokens: number;
  ts: number;
}

/**
 * `take` > 1 asks for several points at once (a worker's lease, see workers/remote-counters.ts): it gets
 * `granted` of them, at most what is left and at most an eighth of it (at least one), so that shares held
 * by several processes never strand much of the window. The decision is about the first point.
 */
export function fixedWindow(p: AlgorithmParams, s: FixedState | undefined, now: number, take = 1) {
  const state = s && now < s.start + p.durationMs ? s : { start: now, count: 0 };
  const reset = state.start + p.durationMs - now;
  const left = p.points - state.count;
  if (left < 1) {
    return {
      state,
      expiresAt: state.start + p.durationMs,
      granted: 0,
      decision: { allowed: false, remaining: 0, resetMs: reset, retryAfterMs: reset },
    };
  }
  const granted = take === 1 ? 1 : Math.min(take, Math.max(1, Math.floor(left / 8)));
  state.count += granted;
  return {
    state,
    expiresAt: state.start + p.durationMs,
    granted,
    decision: { allowed: true, remaining: p.points - state.count, resetMs: reset, retryAfterMs: 0 },
  };
}

export function slidingWindow(p: AlgorithmParams, s: SlidingState | undefined, now: number) {
  const d = p.durationMs;
  const window = Math.floor(now / d);
  let state: SlidingState;
  if (!s || window > s.window + 1) state = { window, curr: 0, prev: 0 };
  else if (window === s.window + 1) state = { window, curr: 0, prev: s.curr };
  else state = s;
  const f = (now - window * d) / d;
  const estimate = state.prev * (1 - f) + state.curr;
  if (estimate + 1 > p.points) {
    const retry = slidingRetryMs(p.points, state, f, d);
    return {
      state,
      expiresAt: (window + 2) * d,
      decision: { allowed: false, remaining: 0, resetMs: retry, retryAfterMs: retry },
    };
  }
  state.curr++;
  const used = state.prev * (1 - f) + state.curr;
  // The current count weighs on the estimate until the end of the next window.
  const reset = (window + 2) * d - now;
  return {
    state,
    expiresAt: (window + 2) * d,
    decision: {
      allowed: true,
      remaining: Math.max(0, Math.floor(p.points - used)),
      resetMs: reset,
      retryAfterMs: 0,
    },
  };
}

/** Time until `prev * (1 - f) + curr + 1 <= limit` holds again. */
function slidingRetryMs(limit: number, s: SlidingState, f: number, d: number): number {
  if (s.curr + 1 <= limit && s.prev > 0) {
    const needed = 1 - (limit - 1 - s.curr) / s.prev;
    return Math.max(1, Math.ceil((needed - f) * d));
  }
  // In the next window the current count becomes the previous one, with decaying weight.
  const g = s.curr > 0 ? Math.max(0, 1 - (limit - 1) / s.curr) : 0;
  return Math.max(1, Math.ceil((1 - f) * d + g * d));
}

export function tokenBucket(p: AlgorithmParams, s: BucketState | undefined, now: number) {
  const ratePerMs = p.points / p.durationMs;
  const state = s ?? { tokens: p.capacity, ts: now };
  state.tokens = Math.min(p.capacity, state.tokens + Math.max(0, now - state.ts) * ratePerMs);
  state.ts = now;
  if (state.tokens < 1) {
    const retry = Math.max(1, Math.ceil((1 - state.tokens) / ratePerMs));
    return {
      state,
      // The state matters until the bucket is full again; forgetting it earlier would hand out a full one.
      expiresAt: now + Math.ceil((p.capacity - state.tokens) / ratePerMs),
      decision: { allowed: false, remaining: 0, resetMs: retry, retryAfterMs: retry },
    };
  }
  state.tokens -= 1;
  const reset = Math.ceil((p.capacity - state.tokens) / ratePerMs);
  return {
    state,
    expiresAt: now + reset,
    decision: { allowed: true, remaining: Math.floor(state.tokens), resetMs: reset, retryAfterMs: 0 },
  };
}
