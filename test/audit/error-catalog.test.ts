/** Every audit error code has a row in docs/audit.md (STYLE: a test checks that every code is documented). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { AUDIT_ERRORS } from '../../src/audit/index.ts';

describe('audit error catalog', () => {
  it('documents every code, prefixed with the component name, in docs/audit.md', () => {
    const doc = readFileSync('docs/audit.md', 'utf8');
    for (const [code, entry] of Object.entries(AUDIT_ERRORS)) {
      assert.match(code, /^audit_/);
      assert.ok(doc.includes(`| \`${code}\` | ${entry.status} |`), `${code} has no row in docs/audit.md`);
    }
  });
});
