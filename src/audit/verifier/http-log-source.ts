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
  const get = async (path: string): Promise<Buffer> => {
    const res = await request(`${base}${path}`, { dispatcher });
    const body = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode !== 200)
      throw new Error(`GET ${path} answered ${res.statusCode}: ${body.toString('utf8').slice(0, 200)}`);
    return body;
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
        after = page.checkpoints.at(-1)!.size;
      }
    },
    entries: async (start, end) => {
      const text = (await get(`/audit/v1/entries?start=${start}&limit=${end - start}`)).toString('utf8');
      const out: { index: number; body: string }[] = [];
      for (const line of text.split('\n')) {
        if (!line) continue;
        const space = line.indexOf(' ');
        out.push({ index: Number(line.slice(0, space)), body: line.slice(space + 1) });
      }
      return out;
    },
    entryBytes: (start, end) => get(`/audit/v1/entries?start=${start}&limit=${end - start}`),
    leafHashes: (start, end) => get(`/audit/v1/leaf-hashes?start=${start}&count=${end - start}`),
    close: () => dispatcher.close(),
  };
}
