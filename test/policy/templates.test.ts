/** Every template passes its starter tests, which hold at least one allow and one deny case each. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { runPolicyTests } from '../../src/policy/index.ts';

const root = new URL('../../src/policy/templates/', import.meta.url);
const templates = readdirSync(root).sort();

describe('policy templates', () => {
  it('ship the four templates users ask for first', () => {
    assert.deepEqual(templates, ['abac-context', 'rbac-by-role', 'service-allow-list', 'tenant-isolation']);
  });

  for (const name of templates) {
    it(`${name} passes its starter tests, with allow and deny cases`, () => {
      const run = runPolicyTests(new URL(name, root).pathname);
      assert.equal(
        run.failed,
        0,
        run.results
          .filter((r) => !r.passed)
          .map((r) => `${r.name}: ${r.message}`)
          .join('\n'),
      );
      assert.ok(
        run.results.some((r) => r.expected === 'allow'),
        'has an allow case',
      );
      assert.ok(
        run.results.some((r) => r.expected === 'deny'),
        'has a deny case',
      );
      assert.ok(
        readFileSync(new URL(`${name}/policy.cedar`, root), 'utf8').includes('@id('),
        'policies carry ids',
      );
    });
  }
});
