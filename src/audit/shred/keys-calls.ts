/**
 * The calls to `keys` the shredder makes, and how their failures are told apart: an erased subject
 * (`keys_subject_erased`, the data is gone: show it as erased), a value that is not the subject's (show it
 * as unreadable) and an outage or refusal (fail the request with `upstream_unavailable`, 503, so the audit
 * client retries or spools the batch and nothing is lost).
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { coreError } from '../../core/index.ts';

type Context = Readonly<Record<string, string>>;

/** The part of the `keys` SDK client used here (`KeysClient` fits it). */
export interface SubjectKeysApi {
  subjectEncrypt(
    subject: string,
    items: readonly { plaintext: Uint8Array; context?: Context }[],
  ): Promise<string[]>;
  subjectDecrypt(
    subject: string,
    items: readonly { ciphertext: string; context?: Context }[],
  ): Promise<(Buffer | Error)[]>;
}

/** Answers of `keys` that mean "this value is not that subject's", as opposed to an outage. */
export const UNAUTHENTIC = new Set([
  'keys_decrypt_failed',
  'keys_ciphertext_malformed',
  'keys_version_unknown',
]);

/** The context of every wrapped data key: never confused with another use of the subject key. */
export const DEK_CONTEXT: Context = { purpose: 'audit-pii-dek' };

export function keysUnavailable(err: unknown): never {
  const code = (err as { code?: string }).code ?? 'error';
  throw coreError(
    'upstream_unavailable',
    `keys did not serve the subject keys for personal data (${code}); the batch was not stored, retry it`,
    { cause: err },
  );
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const run = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

/** A subject's unwrapped data keys by wrapped text, or why a wrapped key does not open. */
export type Unwrapped = Map<string, KeyObject | 'erased' | 'unreadable'>;

/**
 * Unwraps data keys through `keys`: one request per subject (all its distinct wrapped keys in one batch),
 * at most `concurrency` in flight. An erased subject maps every key to `erased`.
 */
export async function unwrapDataKeys(
  keys: SubjectKeysApi,
  bySubject: ReadonlyMap<string, ReadonlySet<string>>,
  concurrency: number,
): Promise<Map<string, Unwrapped>> {
  const unwrapped = new Map<string, Unwrapped>();
  await pool([...bySubject.keys()], concurrency, async (subject) => {
    const wrapped = [...bySubject.get(subject)!];
    const out: Unwrapped = new Map();
    unwrapped.set(subject, out);
    let results: (Buffer | Error)[];
    try {
      results = await keys.subjectDecrypt(
        subject,
        wrapped.map((ciphertext) => ({ ciphertext, context: DEK_CONTEXT })),
      );
    } catch (err) {
      const code = (err as { code?: string }).code;
      // A subject that never had a key answers as a failed decryption: the values were moved here.
      const verdict =
        code === 'keys_subject_erased' ? 'erased' : UNAUTHENTIC.has(code ?? '') ? 'unreadable' : undefined;
      if (!verdict) keysUnavailable(err);
      for (const w of wrapped) out.set(w, verdict);
      return;
    }
    wrapped.forEach((w, i) => {
      const r = results[i];
      if (r instanceof Buffer && r.byteLength === 32) {
        out.set(w, createSecretKey(r));
        r.fill(0);
      } else out.set(w, 'unreadable');
    });
  });
  return unwrapped;
}
