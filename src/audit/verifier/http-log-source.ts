/** A {@link LogSource} that reads a running audit service over HTTPS (no access to its database). */
import { Agent, request } from 'undici';
import type { LogSource } from './log-verifier.ts';

export interface HttpSourceOptions {
  /** PEM CA to trust (the local CA for `bulwark up`). */
  ca?: string;
  /** Client certificate chain and key (PEM) for an audit service that serves mutual TLS. */
  cert?: string;
  key?: string;
}

export function httpLogSource(
  baseUrl: string,
  options: HttpSourceOptions = {},
): LogSource & { close(): Promise<void> } {
  const dispatcher = new Agent({ connect: { ...options }, pipelining: 1 });
  const base = baseUrl.replace(/\/$/, '');
  const fetch = async (path: string): Promise<{ body: Buffer; headers: Record<string, unknown> }> => {
    const res = await request(`${base}${path}`, { dispatcher });
    const body = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode !== 200)
      throw new Error(`GET ${path} answered ${res.statusCode}: ${body.toString('utf8').slice(0, 200)}`);
    return { body, headers: res.headers };
  };
  const get = async (path: string): Promise<Buffer> => (await fetch(path)).body;
  /**
   * The `/entries` text of [start, end): the service caps each answer (`entriesMaxBytes`) and says in
   * `x-entries-end` where it stopped, so the range is read in as many answers as it takes.
   */
  const entryText = async (start: number, end: number): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for (let at = start; at < end; ) {
      const { body, headers } = await fetch(`/audit/v1/entries?start=${at}&limit=${end - at}`);
      parts.push(body);
      const reached = Number(headers['x-entries-end'] ?? end);
      // A service that names no end, or none past where it began, answered the whole range.
      at = Number.isSafeInteger(reached) && reached > at ? reached : end;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  };
  let status: { size: number; minIndex: number } | undefined;
  const retention = async () =>
    (status ??= JSON.parse((await get('/audit/v1/retention')).toString('utf8')) as {
      size: number;
      minIndex: number;
    });
  return {
    size: async () => (await retention()).size,
    minIndex: async () => (await retention()).minIndex,
    checkpoints: async () => {
      const out: string[] = [];
      let after = 0;
      for (;;) {
        const page = JSON.parse(
          (await get(`/audit/v1/checkpoints?after=${after}&limit=10000`)).toString('utf8'),
        ) as {
          checkpoints: { size: number; note: string }[];
        };
        for (const c of page.checkpoints) out.push(c.note);
        if (page.checkpoints.length < 10000) return out;
        // Sizes ascend past the cursor: a server that answers the same full page again is read once, not
        // for ever (with every page kept in memory).
        const last = page.checkpoints.at(-1)!.size;
        if (!Number.isSafeInteger(last) || last <= after)
          throw new Error(`GET /audit/v1/checkpoints?after=${after} did not move past ${after}`);
        after = last;
      }
    },
    entries: async (start, end) => {
      const text = (await entryText(start, end)).toString('utf8');
      const out: { index: number; body: string }[] = [];
      for (const line of text.split('\n')) {
        if (!line) continue;
        const space = line.indexOf(' ');
        out.push({ index: Number(line.slice(0, space)), body: line.slice(space + 1) });
      }
      return out;
    },
    entryBytes: entryText,
    leafHashes: (start, end) => get(`/audit/v1/leaf-hashes?start=${start}&count=${end - start}`),
    close: () => dispatcher.close(),
  };
}
