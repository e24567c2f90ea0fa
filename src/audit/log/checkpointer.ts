/**
 * Issues signed checkpoints (C2SP tlog-checkpoint) as the log grows, at most one per interval, and exports
 * them to the anchor directory (meant for WORM / object-lock storage) so that a rollback of the database
 * can be caught by comparing against a copy the database's owner cannot rewrite.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Clock, Logger, Store } from '../../core/index.ts';
import { openCheckpoint, signCheckpoint } from '../verifier/checkpoint.ts';
import type { NoteSigner } from '../verifier/signed-note.ts';
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

/**
 * Writes one anchor so that its name only ever shows the whole note, on disk: the note goes to a temporary
 * file (not named `checkpoint-*`, so `verify` never reads it), is fsynced, and is then linked under its
 * name. link(2) is atomic, never replaces an existing name and never follows a symlink there, like a WORM
 * bucket that refuses overwrites. A plain write under the final name left it empty or cut short after a
 * crash or power loss, was then taken as done (the name existed), and `verify` failed on it for ever.
 * An existing entry is `present` when it is this note, replaced when it is a prefix of it (our own torn
 * write, empty included), and otherwise `foreign`: a symlink or other content is never read through,
 * written through or replaced.
 */
function writeAnchor(path: string, note: string): 'written' | 'present' | 'foreign' {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o444);
  try {
    writeFileSync(fd, note);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    try {
      linkSync(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const existing = readOwnFile(path);
      if (existing === note) return 'present';
      if (existing === undefined || !note.startsWith(existing)) return 'foreign';
      renameSync(tmp, path);
    }
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd); // the new name itself survives a power loss
    } finally {
      closeSync(dirFd);
    }
    return 'written';
  } finally {
    rmSync(tmp, { force: true });
  }
}

const ANCHOR_NAME = /^checkpoint-(\d{12,})$/;

/**
 * The largest anchor in `dir` that is a regular file, with the size its name gives, or undefined when there
 * is none. Sizes from 10^12 have names of more than 12 digits (ordered by number, not text), a symlink or
 * other foreign entry is passed over rather than taken as "no anchor", and the note must be of the size it
 * is filed under: in WORM storage where entries can be added, planting a symlink, or a copy of an old
 * anchor, under a larger name otherwise hid the newest anchor from the start-up check.
 */
function newestAnchor(dir: string): { size: number; note: string } | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const sizes: number[] = [];
  for (const name of names) {
    const digits = ANCHOR_NAME.exec(name)?.[1];
    const size = Number(digits);
    if (digits !== undefined && Number.isSafeInteger(size) && anchorName(size) === name) sizes.push(size);
  }
  for (const size of sizes.sort((a, b) => b - a)) {
    const note = readOwnFile(join(dir, anchorName(size)));
    if (note !== undefined) return { size, note };
  }
  return undefined;
}

function anchorName(size: number): string {
  return `checkpoint-${String(size).padStart(12, '0')}`;
}

/**
 * The text of a regular file, or undefined for a symlink (not followed) or anything else: whatever is
 * planted under an anchor name (a directory, a FIFO, a link to /dev/zero) is passed over, never read.
 */
export function readOwnFile(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') return undefined;
    throw err;
  }
  try {
    return fstatSync(fd).isFile() ? readFileSync(fd, 'utf8') : undefined;
  } finally {
    closeSync(fd);
  }
}
