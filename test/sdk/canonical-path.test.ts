/** meshTarget: the one canonical target the mesh server decides on and hands to the handler. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { meshTarget } from '../../src/sdk/mesh/index.ts';

describe('meshTarget', () => {
  it('decodes unreserved characters, removes dot segments, merges slashes and keeps the query', () => {
    const cases: [string, string, string][] = [
      ['/%61dmin', '/admin', '/admin'],
      ['/x/../admin?a=1&b=%2F', '/admin', '/admin?a=1&b=%2F'],
      ['//admin//x/', '/admin/x/', '/admin/x/'],
      ['/a/%2E%2e/b/.', '/b/', '/b/'],
      ['/%7euser', '/~user', '/~user'],
      ['/caf%c3%a9', '/café', '/caf%C3%A9'],
      ['/', '/', '/'],
    ];
    for (const [raw, path, url] of cases)
      assert.deepEqual(meshTarget(raw), { ok: true, target: { path, url } }, raw);
  });

  it('refuses what a second decoder or another parser would read differently', () => {
    const cases: [string, string][] = [
      ['/admin%2f', 'encoded_slash'],
      ['/a%5cb', 'encoded_backslash'],
      ['/a%00', 'encoded_nul'],
      ['/%252e%252e/admin', 'double_encoding'],
      ['/admin;x', 'path_parameter'],
      ['/a%0d%0aX: y', 'invalid_character'],
      ['/a%zz', 'bad_percent_encoding'],
      ['/a%ff', 'invalid_utf8'],
      ['/a?q=%c0%af', 'invalid_utf8'],
      ['/a%c2%85', 'control_character'],
      ['/a%e2%80%a8', 'control_character'],
      ['http://evil/admin', 'not_origin_form'],
      ['*', 'not_origin_form'],
      [undefined as unknown as string, 'not_origin_form'],
    ];
    for (const [raw, reason] of cases) assert.deepEqual(meshTarget(raw), { ok: false, reason }, String(raw));
  });

  it('is idempotent: the url it forwards canonicalises to itself', () => {
    for (const raw of ['/x/../%61dmin/./y?q', '//a//%7E//b/..', '/caf%C3%A9/t%C3%AA']) {
      const first = meshTarget(raw);
      assert.ok(first.ok);
      assert.deepEqual(meshTarget(first.target.url), first, raw);
    }
  });
});
