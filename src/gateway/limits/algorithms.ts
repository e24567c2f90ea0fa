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
 * One decision of an algorithm. `take` > 1 asks for several points at once (a worker's lease, see
 * workers/remote-counters.ts): it gets `granted` of them, at most an eighth of what is left (at least one,
 * and only one where a lease could not be held), so that shares held by several processes never strand
 * much. `decision` is about the first point. `holdsMs` is how long the answer stays true without asking
 * again: granted points may be spent until then without ever exceeding the limit, and a refusal stands
 * until then whatever other processes do.
 */
export interface Step<S> {
  state: S;
  /** When the key's state no longer matters (it may be forgotten). */
  expiresAt: number;
  granted: number;
  holdsMs: number;
  decision: LimitDecision;
}

/** An eighth of what is left, at least one, at most `take`. */
function share(take: number, left: number): number {
  return take === 1 ? 1 : Math.min(take, Math.max(1, Math.floor(left / 8)));
}

function refused<S>(state: S, expiresAt: number, retryMs: number, resetMs = retryMs): Step<S> {
  return {
    state,
    expiresAt,
    granted: 0,
    holdsMs: retryMs,
    decision: { allowed: false, remaining: 0, resetMs, retryAfterMs: retryMs },
  };
}

/** Granted points hold until the window ends (within it the count only grows); so does a refusal. */
export function fixedWindow(
  p: AlgorithmParams,
  s: FixedState | undefined,
  now: number,
  take = 1,
): Step<FixedState> {
  const state = s && now < s.start + p.durationMs ? s : { start: now, count: 0 };
  const end = state.start + p.durationMs;
  const reset = end - now;
  const left = p.points - state.count;
  if (left < 1) return refused(state, end, reset);
  const granted = share(take, left);
  state.count += granted;
  return {
    state,
    expiresAt: end,
    granted,
    holdsMs: reset,
    decision: { allowed: true, remaining: p.points - state.count, resetMs: reset, retryAfterMs: 0 },
  };
}

/**
 * Granted points are counted in the current window, so they may be spent until it ends: later in it the
 * previous window weighs less, never more. Spent in the next one they would count only with a decaying
 * weight, hence not beyond. A refusal stands for its `retryAfterMs` (others' requests only add to it).
 */
export function slidingWindow(
  p: AlgorithmParams,
  s: SlidingState | undefined,
  now: number,
  take = 1,
): Step<SlidingState> {
  const d = p.durationMs;
  const window = Math.floor(now / d);
  let state: SlidingState;
  if (!s || window > s.window + 1) state = { window, curr: 0, prev: 0 };
  else if (window === s.window + 1) state = { window, curr: 0, prev: s.curr };
  else state = s;
  const f = (now - window * d) / d;
  const estimate = state.prev * (1 - f) + state.curr;
  // The current count weighs on the estimate until the end of the next window.
  const expiresAt = (window + 2) * d;
  if (estimate + 1 > p.points) return refused(state, expiresAt, slidingRetryMs(p.points, state, f, d));
  const granted = share(take, Math.floor(p.points - estimate));
  state.curr += granted;
  const used = state.prev * (1 - f) + state.curr;
  return {
    state,
    expiresAt,
    granted,
    holdsMs: (window + 1) * d - now,
    decision: {
      allowed: true,
      remaining: Math.max(0, Math.floor(p.points - used)),
      resetMs: expiresAt - now,
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

/**
 * Granted tokens may be spent until the bucket, as it was before the grant, would be full again: until
 * then no refill is lost to the cap, so spending them later is the same as spending them at once (with
 * leases of several processes too: each one's term counts everything granted after it). A full bucket
 * therefore grants one token, spent at once. A refusal stands until one token has come back.
 */
export function tokenBucket(
  p: AlgorithmParams,
  s: BucketState | undefined,
  now: number,
  take = 1,
): Step<BucketState> {
  const ratePerMs = p.points / p.durationMs;
  const state = s ?? { tokens: p.capacity, ts: now };
  state.tokens = Math.min(p.capacity, state.tokens + Math.max(0, now - state.ts) * ratePerMs);
  state.ts = now;
  if (state.tokens < 1) {
    const retry = Math.max(1, Math.ceil((1 - state.tokens) / ratePerMs));
    // The state matters until the bucket is full again; forgetting it earlier would hand out a full one.
    return refused(state, now + Math.ceil((p.capacity - state.tokens) / ratePerMs), retry);
  }
  const holdsMs = Math.floor((p.capacity - state.tokens) / ratePerMs);
  const granted = holdsMs > 0 ? share(take, Math.floor(state.tokens)) : 1;
  state.tokens -= granted;
  const reset = Math.ceil((p.capacity - state.tokens) / ratePerMs);
  return {
    state,
    expiresAt: now + reset,
    granted,
    holdsMs,
    decision: { allowed: true, remaining: Math.floor(state.tokens), resetMs: reset, retryAfterMs: 0 },
  };
}
