/**
 * Issues signed checkpoints (C2SP tlog-checkpoint) as the log grows, at most one per interval, and exports
 * them to the anchor directory (meant for WORM / object-lock storage) so that a rollback of the database
 * can be caught by comparing against a copy the database's owner cannot rewrite.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, Logger, Store } from '../../core/index.ts';
import { openCheckpoint, signCheckpoint } from '../verifier/checkpoint.ts';
import type { NoteSigner } from '../verifier/signed-note.ts';
import { anchorName, newestAnchor, writeAnchor } from './anchors.ts';
import type { AuditLog } from './audit-log.ts';
import { checkpointAt, insertCheckpoint, latestCheckpoint, type StoredCheckpoint } from './record-store.ts';

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
  /** The latest checkpoint while its history row is not stored yet. */
  #unstored: StoredCheckpoint | undefined;
  /** The latest checkpoint whose history row is stored. */
  #stored: StoredCheckpoint | undefined;
  /** False when the stored checkpoints disagree with the stored tree (tampering): `/readyz` says so. */
  integrity = true;

  constructor(options: CheckpointerOptions) {
    this.#o = options;
  }

  get latest(): StoredCheckpoint | undefined {
    return this.#latest;
  }

  /**
   * The latest checkpoint in the stored history (`latest` may be ahead while its row cannot be written):
   * what outside verifiers can check pruned leaf hashes against, so pruning never goes past it.
   */
  get stored(): StoredCheckpoint | undefined {
    return this.#stored;
  }

  /**
   * Loads the latest checkpoint and checks it, and the newest anchor, against the tree rebuilt from storage.
   * The anchor matters when the database's owner deleted the stored checkpoints: without it, a log rewritten
   * whole would be signed afresh at the next start.
   */
  async init(): Promise<void> {
    this.#latest = await latestCheckpoint(this.#o.store);
    this.#stored = this.#latest;
    const anchor = newestAnchor(this.#o.anchorDirectory);
    if (anchor) {
      // A torn anchor (empty or cut short by a crash of an older version, which wrote it in place) is not a
      // disagreeing one: the stored checkpoint it began is checked in its place, and `#anchor` completes it.
      const stored = await checkpointAt(this.#o.store, anchor.size);
      if (stored && stored.note !== anchor.note && stored.note.startsWith(anchor.note))
        anchor.note = stored.note;
    }
    for (const [what, note, size] of [
      ['latest checkpoint', this.#latest?.note, this.#latest?.size],
      ['newest anchor', anchor?.note, anchor?.size],
    ] as const) {
      if (note === undefined || (await this.#matches(note, size))) continue;
      this.integrity = false;
      this.#o.logger.error(
        { logSize: this.#o.log.size },
        `audit log does not match its ${what}; run \`bulwark audit verify\``,
      );
    }
    await this.tick();
  }

  /** Whether a signed checkpoint is ours, of the size it is filed under, and the stored tree's root there. */
  async #matches(note: string, size: number | undefined): Promise<boolean> {
    try {
      const opened = openCheckpoint(note, this.#o.signer, this.#o.origin);
      if (opened.size !== size || opened.size > this.#o.log.size) return false;
      return (await this.#o.log.tree.root(opened.size)).equals(opened.root);
    } catch {
      return false;
    }
  }

  /** Issues a checkpoint right after a commit when the last one is at least one interval old. */
  afterCommit(): void {
    const since = this.#o.clock.now() - this.#lastIssued;
    if (since < 0 || since >= this.#o.intervalMs) {
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
      this.#unstored = cp;
    }
    // Until it is stored: a row that failed (disk full) was otherwise never retried, and until the log grew
    // the stored history (what `verify` and the proof bundles read) lacked the checkpoint already published.
    try {
      await this.#store();
    } finally {
      // Anchored even while the row cannot be stored: it is signed over committed records only.
      this.#anchor();
    }
    return this.#latest;
  }

  async #store(): Promise<void> {
    const unstored = this.#unstored;
    if (unstored) {
      try {
        await insertCheckpoint(this.#o.log, unstored);
      } catch (err) {
        // Stored after all (the failure came after COMMIT)? Then there is nothing left to retry.
        if ((await checkpointAt(this.#o.store, unstored.size))?.note !== unstored.note) throw err;
      }
      if (!this.#stored || unstored.size > this.#stored.size) this.#stored = unstored;
      if (this.#unstored === unstored) this.#unstored = undefined;
    }
  }

  #anchor(): void {
    const cp = this.#latest;
    const { anchorIntervalMs, anchorDirectory, clock } = this.#o;
    if (!cp || anchorIntervalMs === 0 || cp.size === this.#anchoredSize) return;
    // A clock stepped back (NTP) makes this negative: taken as due, or no anchor would be written until the
    // clock came back to the last one's time, however long the step.
    const since = clock.now() - this.#lastAnchor;
    if (since >= 0 && since < anchorIntervalMs) return;
    mkdirSync(anchorDirectory, { recursive: true, mode: 0o700 });
    const path = join(anchorDirectory, anchorName(cp.size));
    if (writeAnchor(path, cp.note) === 'foreign') {
      // Not ours and not a torn write of ours: left alone (it may be evidence), and this size goes unanchored.
      this.#o.logger.error(
        { path },
        'the anchor directory holds a foreign entry under this checkpoint name; it was not replaced',
      );
    }
    this.#anchoredSize = cp.size;
    this.#lastAnchor = clock.now();
  }
}
