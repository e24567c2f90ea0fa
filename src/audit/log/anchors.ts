/**
 * The anchor directory's files (`checkpoint-<size, 12+ digits>`, one signed checkpoint each): written so a
 * name only ever shows a whole note and never replaces another, and read without following anything planted
 * there. The checkpointer writes them and checks the newest at start; `bulwark audit verify` reads them.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  linkSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

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
export function writeAnchor(path: string, note: string): 'written' | 'present' | 'foreign' {
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
export function newestAnchor(dir: string): { size: number; note: string } | undefined {
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

export function anchorName(size: number): string {
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
