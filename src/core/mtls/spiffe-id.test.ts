import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isSpiffeId, parseSpiffeId, serviceNameOf, serviceSpiffeId } from './spiffe-id.ts';

describe('SPIFFE ID parsing (SPIFFE-ID.md)', () => {
  it('accepts IDs the specification allows', () => {
    for (const id of [
      'spiffe://example.org',
      'spiffe://example.org/service/orders',
      'spiffe://a_b-c.d/A.b-C_d/1',
    ]) {
      assert.equal(parseSpiffeId(id).uri, id);
    }
    assert.equal(parseSpiffeId('spiffe://td.local/ns/x').trustDomain, 'td.local');
  });

  it('refuses every spelling the specification forbids, with a stable code', () => {
    const bad = [
      'SPIFFE://example.org/a', // scheme case
      'https://example.org/a',
      'spiffe://Example.org/a', // upper-case trust domain
      'spiffe://example.org:8080/a', // port
      'spiffe://user@example.org/a', // user info
      'spiffe://example.org/a?x=1', // query
      'spiffe://example.org/a#f', // fragment
      'spiffe://example.org/a%20b', // percent-encoding
      'spiffe://example.org/', // trailing slash
      'spiffe://example.org/a//b', // empty segment
      'spiffe://example.org/./a',
      'spiffe://example.org/a/..',
      'spiffe:///a', // empty trust domain
      `spiffe://example.org/${'a'.repeat(2040)}`, // > 2048 bytes
      `spiffe://${'a'.repeat(256)}/x`, // trust domain > 255
    ];
    for (const id of bad) assert.throws(() => parseSpiffeId(id), { code: 'mesh_spiffe_id_invalid' }, id);
  });

  it('never throws anything but its own code, whatever the input (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (text) => {
        try {
          const id = parseSpiffeId(`spiffe://${text}`);
          // A parsed ID re-parses to itself: one identity, one spelling.
          assert.equal(parseSpiffeId(id.uri).uri, id.uri);
        } catch (err) {
          assert.equal((err as { code?: string }).code, 'mesh_spiffe_id_invalid');
        }
      }),
    );
    assert.equal(isSpiffeId(42), false);
  });

  it('names services as spiffe://<trust domain>/service/<name>', () => {
    const id = serviceSpiffeId('bulwark.local', 'orders');
    assert.equal(id, 'spiffe://bulwark.local/service/orders');
    assert.equal(serviceNameOf(parseSpiffeId(id)), 'orders');
    assert.equal(serviceNameOf(parseSpiffeId('spiffe://bulwark.local/admin/x')), undefined);
    assert.throws(() => serviceSpiffeId('bulwark.local', '../x'), { code: 'mesh_spiffe_id_invalid' });
  });
});
