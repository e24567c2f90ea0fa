import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashPassword, needsRehash, verifyPassword } from './password-hash.ts';
import { commonPasswords, passwordProblem } from './password-policy.ts';

describe('password policy (NIST SP 800-63B)', () => {
  it('asks 15 characters without MFA and 8 with, counting code points, and allows long passphrases', () => {
    assert.match(passwordProblem('fourteen chars', { mfa: false })!, /15/);
    assert.equal(passwordProblem('fifteen chars!!', { mfa: false }), null);
    assert.equal(passwordProblem('eight ch', { mfa: true }), null);
    assert.match(passwordProblem('seven c', { mfa: true })!, /8/);
    assert.match(passwordProblem('🔒🔒🔒🔒🔒🔒🔒', { mfa: true })!, /8/, 'seven emoji are seven characters');
    assert.equal(passwordProblem('x'.repeat(10) + ' long passphrase '.repeat(10), { mfa: false }), null);
  });

  it('refuses blocklisted, decorated, repetitive, sequential and context passwords', () => {
    assert.ok(commonPasswords().size > 300);
    for (const p of [
      'passwordpassword',
      'PasswordPassword2026!',
      'correct horse battery staple',
      'zzzzzzzzzzzzzzzz',
      'abababababababab',
      'qrstuvwxyz{|}~',
    ]) {
      if ([...p].length < 8) continue;
      assert.notEqual(passwordProblem(p, { mfa: true }), null, p);
    }
    assert.match(passwordProblem('i am margaret thatcher', { mfa: true, username: 'margaret' })!, /username/);
    assert.match(
      passwordProblem('write to margaret.t please', { mfa: true, email: 'margaret.t@example.test' })!,
      /username/,
    );
  });

  it('hashes with Argon2id at the OWASP parameters and verifies NFKC-equivalent input', async () => {
    const hash = await hashPassword('ﬁne passphrase for tests');
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(await verifyPassword(hash, 'fine passphrase for tests'), true, 'NFKC folds the ligature');
    assert.equal(await verifyPassword(hash, 'fine passphrase for test'), false);
    assert.equal(needsRehash(hash), false);
    assert.equal(await verifyPassword('not a hash', 'x'), false);
  });
});
