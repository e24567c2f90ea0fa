import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  applyMasking,
  compileMaskingPolicy,
  FULL_MASK,
  maskCard,
  maskEmail,
  maskLast4,
  maskPhone,
  maskSsn,
} from './index.ts';

describe('masks', () => {
  it('masks an SSN to its last four digits', () => {
    assert.equal(maskSsn('123-45-6789'), '***-**-6789');
    assert.equal(maskSsn('123456789'), '***-**-6789');
    assert.equal(maskSsn('12-345'), FULL_MASK);
  });

  it('masks a card number but its last four, keeping separators', () => {
    assert.equal(maskCard('4111 1111 1111 1111'), '**** **** **** 1111');
    assert.equal(maskCard('4111111111111111'), '************1111');
    assert.equal(maskCard('card 4111111111111111'), FULL_MASK);
  });

  it('masks e-mail local parts, phones and generic values', () => {
    assert.equal(maskEmail('alice@example.com'), 'a****@example.com');
    assert.equal(maskEmail('@example.com'), FULL_MASK);
    assert.equal(maskPhone('+1 415 555 0123'), '+* *** *** 0123');
    assert.equal(maskLast4('ABCDEFGHIJ'), '******GHIJ');
    assert.equal(maskLast4('short'), FULL_MASK);
  });

  it('never returns more than the last four digits of any digit string (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{12,19}$/), (pan) => {
        const masked = maskCard(pan);
        assert.equal(masked.replace(/\*/g, ''), pan.slice(-4));
        assert.equal(maskSsn(pan).includes(pan.slice(0, 5)), false);
      }),
    );
  });
});

describe('masking policy per role', () => {
  const policy = compileMaskingPolicy({
    fields: { ssn: 'ssn', card_number: 'card', email: 'email' },
    reveal: { support: ['email'], compliance: ['ssn', 'email'] },
  });
  const record = {
    name: 'Ann',
    ssn: '123-45-6789',
    contact: { email: 'ann@example.com', cards: [{ cardNumber: '4111111111111111' }] },
  };

  it('masks every sensitive field for a role that reveals nothing, at any depth, without mutating', () => {
    const out = applyMasking(record, policy, ['viewer']) as typeof record;
    assert.equal(out.ssn, '***-**-6789');
    assert.equal(out.contact.email, 'a****@example.com');
    assert.equal(out.contact.cards[0]!.cardNumber, '************1111');
    assert.equal(out.name, 'Ann');
    assert.equal(record.ssn, '123-45-6789');
  });

  it('shows a role exactly the fields it reveals', () => {
    const support = applyMasking(record, policy, ['support']) as typeof record;
    assert.equal(support.contact.email, 'ann@example.com');
    assert.equal(support.ssn, '***-**-6789');
    const both = applyMasking(record, policy, ['support', 'compliance']) as typeof record;
    assert.equal(both.ssn, '123-45-6789');
  });

  it('masks a sensitive field whole when its value is an object, so nothing nested leaks', () => {
    const out = applyMasking({ ssn: { value: '123-45-6789' } }, policy, []) as { ssn: unknown };
    assert.equal(out.ssn, FULL_MASK);
  });

  it('refuses an unknown mask kind', () => {
    assert.throws(() => compileMaskingPolicy({ fields: { x: 'rot13' as never } }), TypeError);
  });
});
