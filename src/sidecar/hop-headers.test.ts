import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forwardHeaders, isOriginForm } from './hop-headers.ts';

describe('header hygiene at the sidecar hop', () => {
  it('drops every spelling of the identity header a framework could read as the same name', () => {
    const out = forwardHeaders(
      { 'x-bulwark-peer-id': 'a', x_bulwark_peer_id: 'b', 'x-bulwark_peer-id': 'c', accept: 'json' },
      ['x-bulwark-peer-id'],
    );
    assert.deepEqual(out, { accept: 'json' });
  });

  it('drops hop-by-hop headers and those the Connection header names (RFC 9110 §7.6.1)', () => {
    const out = forwardHeaders({
      connection: 'keep-alive, x-secret',
      'x-secret': '1',
      te: 'trailers',
      host: 'h',
      'x-ok': '2',
    });
    assert.deepEqual(out, { 'x-ok': '2' });
  });

  it('accepts only origin-form request targets', () => {
    assert.equal(isOriginForm('/a?b'), true);
    for (const bad of ['http://evil/a', '//evil/a', '*', '', undefined])
      assert.equal(isOriginForm(bad), false, String(bad));
  });
});
