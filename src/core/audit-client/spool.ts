/**
 * The audit client's local spool: JSON lines appended and fsynced under `<home>/spool/`, so an event the
 * client has acknowledged survives the audit service being down and this process crashing. Draining
 * renames the spool first (atomic), so new events never mix with a batch being re-sent; a crash during a
 * drain leaves the renamed file, which is re-sent on the next start (ids make that idempotent).
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { AuditEvent } from '../audit/types.ts';

export class Spool {
  readonly directory: string;
  readonly #name: string;
  #drainSeq = 0;

  constructor(directory: string, name: string) {
    if (!/^[a-z0-9_-]{1,64}$/i.test(name))
      throw new TypeError(`spool name must be a simple file name: ${name}`);
    this.directory = directory;
    this.#name = name;
    mkdirSync(directory, { recursive: true, mode: 0o700 });
  }

  get #active(): string {
    return join(this.directory, `audit-${this.#name}.jsonl`);
  }

  /** Appends and fsyncs; only then is the event acknowledged to the caller. */
  append(events: readonly AuditEvent[]): void {
    if (events.length === 0) return;
    const fd = openSync(this.#active, 'a+', 0o600);
    try {
      // A crash mid-append leaves a torn last line; without a newline first, the first event written now
      // would be glued to that fragment and dropped as torn when read, though it was acknowledged.
      const size = fstatSync(fd).size;
      const last = Buffer.alloc(1);
      const torn = size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 10;
      writeSync(fd, `${torn ? '\n' : ''}${events.map((e) => `${JSON.stringify(e)}\n`).join('')}`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Files waiting to be re-sent, oldest first; the active spool is renamed into this list. */
  claim(): string[] {
    if (existsSync(this.#active)) {
      renameSync(
        this.#active,
        join(this.directory, `audit-${this.#name}.draining-${Date.now()}-${process.pid}-${this.#drainSeq++}`),
      );
    }
    const prefix = `audit-${this.#name}.draining-`;
    return readdirSync(this.directory)
      .filter((f) => f.startsWith(prefix))
      .sort((a, b) => order(a.slice(prefix.length)) - order(b.slice(prefix.length)) || a.localeCompare(b))
      .map((f) => join(this.directory, f));
  }

  /** Reads a claimed file; a torn line (crash while appending, never acknowledged) is dropped. */
  read(file: string): AuditEvent[] {
    const out: AuditEvent[] = [];
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as AuditEvent);
      } catch {
        // Only the unacknowledged tail of a crashed append can be torn (append starts after it on a new line).
      }
    }
    return out;
  }

  remove(file: string): void {
    rmSync(file, { force: true });
  }

  pending(): boolean {
    return (
      existsSync(this.#active) ||
      readdirSync(this.directory).some((f) => f.startsWith(`audit-${this.#name}.draining-`))
    );
  }
}

function order(suffix: string): number {
  return Number(suffix.split('-')[0]) || 0;
}
