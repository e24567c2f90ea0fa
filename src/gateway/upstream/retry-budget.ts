/**
 * A retry budget (as in Finagle and Envoy's retry budgets): each request deposits `percent`/100 of a
 * token, each retry withdraws one, with a small floor so a quiet service can still retry. A failing
 * upstream therefore sees at most (1 + percent/100) times its normal load, never a retry storm.
 */
export class RetryBudget {
  readonly #ratio: number;
  readonly #cap: number;
  #tokens: number;

  constructor(percent = 20, floor = 10) {
    this.#ratio = percent / 100;
    this.#cap = Math.max(floor, 100);
    this.#tokens = floor;
  }

  deposit(): void {
    this.#tokens = Math.min(this.#cap, this.#tokens + this.#ratio);
  }

  /** Takes one retry token; false when the budget is spent. */
  withdraw(): boolean {
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  get tokens(): number {
    return this.#tokens;
  }
}
