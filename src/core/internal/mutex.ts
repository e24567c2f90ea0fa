/** A FIFO async lock: `run` waits for every earlier holder to finish before starting `work`. */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(work, work);
    // The chain must not reject, or the next waiter would see this holder's error.
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
