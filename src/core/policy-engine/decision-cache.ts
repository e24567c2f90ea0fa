/**
 * A bounded least-recently-used map of decisions, one per applied bundle (a new bundle starts with an empty
 * cache, so a cached answer can never come from another bundle). Keys are the canonical encoding of every
 * input of the decision (principal, action, resource, context and the request's own entities); Cedar
 * evaluation is deterministic in those inputs and the bundle, so a hit is exactly what evaluation would
 * return. Known entities are part of the bundle, hence covered by the per-bundle cache.
 */

/**
 * @example
 * const cache = new DecisionCache<Decision>(10_000);
 * cache.set(key, decision);
 * cache.get(key); // decision, now the most recently used
 */
export class DecisionCache<V> {
  readonly #limit: number;
  readonly #map = new Map<string, V>();
  hits = 0;
  misses = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 0) throw new TypeError('cache limit must be an integer >= 0');
    this.#limit = limit;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    const value = this.#map.get(key);
    if (value === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Map keeps insertion order: re-inserting marks the entry most recently used.
    this.#map.delete(key);
    this.#map.set(key, value);
    return value;
  }

  set(key: string, value: V): void {
    if (this.#limit === 0) return;
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.#limit) {
      const oldest = this.#map.keys().next().value as string;
      this.#map.delete(oldest);
    }
  }
}
