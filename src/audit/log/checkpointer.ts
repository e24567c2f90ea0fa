/**
 * Issues signed checkpoints (C2SP tlog-checkpoint) as the log grows, at most one per interval, and exports
 * them to the anchor directory (meant for WORM / object-lock storage) so that a rollback of the database
 * can be caught by comparing against a copy the database's owner cannot rewrite.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, Logger, Store } from '../../core/index.ts';
import { openCheckpoint, signCheckpoint } from '../verifier/checkpoint.ts';
import type { NoteSigner } from '../verifier/signed-note.ts';
import type { AuditLog } from './audit-log.ts';
import { insertCheckpoint, latestCheckpoint, type StoredCheckpoint } from './record-store.ts';

export interface CheckpointerOptions {
  log: AuditLog;
  store: Store;
  signer: NoteSigner;
  origin: string;
  clock: Clock;
  logger: Logger;
  intervalMs: number;
  anchorDirectory: string;
  anchorIntervalMs: number;
}

export class Checkpointer {
  readonly #o: CheckpointerOptions;
  #latest: StoredCheckpoint | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<StoredCheckpoint | undefined> | undefined;
  #anchoredSize = -1;
  #lastAnchor = 0;
  #lastIssued = 0;
  /** False when the stored checkpoints disagree with the stored tree (tampering): `/readyz` says so. */
  integrity = true;

  constructor(options: CheckpointerOptions) {
    this.#o = options;
  }

  get latest(): StoredCheckpoint | undefined {
    return this.#latest;
  }

  /** Loads the latest checkpoint and checks it against the tree rebuilt from storage. */
  async init(): Promise<void> {
    this.#latest = await latestCheckpoint(this.#o.store);
    const cp = this.#latest;
    if (cp) {
      try {
        const opened = openCheckpoint(cp.note, this.#o.signer, this.#o.origin);
        const root = cp.size <= this.#o.log.size ? await this.#o.log.tree.root(cp.size) : undefined;
        if (!root?.equals(opened.root)) this.integrity = false;
      } catch {
        this.integrity = false;
      }
      if (!this.integrity) {
        this.#o.logger.error(
          { size: cp.size, logSize: this.#o.log.size },
          'audit log does not match its latest checkpoint; run `bulwark audit verify`',
        );
      }
    }
    await this.tick();
  }

  /** Issues a checkpoint right after a commit when the last one is at least one interval old. */
  afterCommit(): void {
    if (this.#o.clock.now() - this.#lastIssued >= this.#o.intervalMs) {
      void this.tick().catch((err) => this.#o.logger.error({ err }, 'checkpoint failed'));
    }
  }

  start(): void {
    this.#o.log.onCommit = () => this.afterCommit();
    this.#timer = setInterval(
      () => void this.tick().catch((err) => this.#o.logger.error({ err }, 'checkpoint failed')),
      this.#o.intervalMs,
    );
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
    await this.tick();
  }

  /** Signs a checkpoint of the current size if the log grew; one at a time. */
  tick(): Promise<StoredCheckpoint | undefined> {
    this.#running ??= this.#issue().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #issue(): Promise<StoredCheckpoint | undefined> {
    const size = this.#o.log.size;
    if (this.integrity && (!this.#latest || size > this.#latest.size)) {
      const root = await this.#o.log.tree.root(size);
      const note = signCheckpoint({ origin: this.#o.origin, size, root }, this.#o.signer);
      const cp = { size, note, created: new Date(this.#o.clock.now()).toISOString() };
      // Published before it is stored: it only covers committed records, so it stays true after a crash;
      // the stored copy (history for verifiers) waits its turn behind queued appends.
      this.#latest = cp;
      this.#lastIssued = this.#o.clock.now();
      await insertCheckpoint(this.#o.log, cp);
    }
    this.#anchor();
    return this.#latest;
  }

  #anchor(): void {
    const cp = this.#latest;
    const { anchorIntervalMs, anchorDirectory, clock } = this.#o;
    if (!cp || anchorIntervalMs === 0 || cp.size === this.#anchoredSize) return;
    if (clock.now() - this.#lastAnchor < anchorIntervalMs) return;
    mkdirSync(anchorDirectory, { recursive: true, mode: 0o700 });
    // One file per size, never overwritten (flag wx): a WORM bucket would refuse an overwrite too.
    try {
      writeFileSync(join(anchorDirectory, `checkpoint-${String(cp.size).padStart(12, '0')}`), cp.note, {
        flag: 'wx',
        mode: 0o444,
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    this.#anchoredSize = cp.size;
    this.#lastAnchor = clock.now();
  }
}
