/**
 * Argon2id password hashing (RFC 9106) with OWASP's Password Storage Cheat Sheet figures: m = 19 MiB,
 * t = 2, p = 1. `@node-rs/argon2`'s defaults (m = 4 MiB, t = 3) are below that. Hashes are PHC strings, so a
 * later change of parameters still verifies old hashes (and `needsRehash` tells when to upgrade them).
 */
import { hash, type Options, parseOptions, verify } from '@node-rs/argon2';

// Algorithm.Argon2id is a const enum in the typings, which type stripping cannot inline.
const ARGON2ID = 2;

export const ARGON2_PARAMS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

const OPTIONS: Options = { algorithm: ARGON2ID, ...ARGON2_PARAMS, outputLen: 32 };

export function hashPassword(password: string): Promise<string> {
  return hash(password.normalize('NFKC'), OPTIONS);
}

export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    return await verify(phc, password.normalize('NFKC'));
  } catch {
    return false;
  }
}

export function needsRehash(phc: string): boolean {
  const p = parseOptions(phc);
  return p.memoryCost < ARGON2_PARAMS.memoryCost || p.timeCost < ARGON2_PARAMS.timeCost;
}

let dummy: Promise<string> | undefined;

/** Computes the dummy hash ahead (at start), so the first unknown-user attempt is not slower either. */
export function warmDummyHash(): Promise<string> {
  dummy ??= hashPassword('bulwark dummy password never matches anything');
  return dummy;
}

/**
 * Spends the same time as checking a real password, for unknown usernames: without it, "no such user"
 * answers in microseconds and "wrong password" in milliseconds, which enumerates accounts by timing.
 */
export async function verifyDummy(password: string): Promise<false> {
  await verifyPassword(await warmDummyHash(), password);
  return false;
}
