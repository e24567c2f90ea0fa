/**
 * Running a clinic service as its own process: settings from the environment (a missing one is named
 * with what to put in it), a `ready` message over IPC when forked by a supervisor (the same shape as
 * `bulwark run`'s), a line on stdout otherwise, and a clean stop on SIGINT/SIGTERM or when the
 * supervisor goes away. Nothing from Bulwark: `billing` uses it too.
 */
import { readFileSync } from 'node:fs';
import type { JwksSource } from './end-user.ts';

export function env(name: string, what: string): string {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`${name} is not set: ${what}\n`);
    process.exit(2);
  }
  return value;
}

export function optionalEnv(name: string): string | undefined {
  return process.env[name] || undefined;
}

export function portEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (!raw) return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`${name} must be a port number (0-65535)\n`);
    process.exit(2);
  }
  return port;
}

/** `CLINIC_GATEWAY_JWKS_URL` (+ `CLINIC_GATEWAY_CA_FILE`), or a pinned `CLINIC_GATEWAY_JWKS_FILE`. */
export function gatewayJwksFromEnv(): JwksSource {
  const file = optionalEnv('CLINIC_GATEWAY_JWKS_FILE');
  if (file) return JSON.parse(readFileSync(file, 'utf8')) as JwksSource;
  const url = env(
    'CLINIC_GATEWAY_JWKS_URL',
    "the gateway's assertion keys, e.g. https://127.0.0.1:7408/v1/gateway/jwks.json",
  );
  const caFile = optionalEnv('CLINIC_GATEWAY_CA_FILE');
  return { url, ...(caFile ? { ca: readFileSync(caFile, 'utf8') } : {}) };
}

export async function runUntilStopped(
  name: string,
  start: () => Promise<{ url: string; close(): Promise<void> }>,
  /** Closed after the service, e.g. the audit client, so its last events are flushed. */
  after?: { close(): Promise<void> },
): Promise<void> {
  let running: { url: string; close(): Promise<void> };
  try {
    running = await start();
  } catch (err) {
    // The code and message only: a stack or a cause might carry a token or a record.
    const e = err as { code?: string; message?: string };
    process.stderr.write(`${name} failed to start: ${e.code ?? ''} ${e.message ?? String(err)}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await running.close().catch(() => undefined);
    await after?.close().catch(() => undefined);
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop());
  if (process.send) {
    process.once('disconnect', () => void stop());
    process.send({ type: 'ready', url: running.url });
  } else {
    process.stdout.write(`${name} listening on ${running.url}\n`);
  }
}
