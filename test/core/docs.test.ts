import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { COMPONENTS, platformSchema } from '../../src/cli/components.ts';
import { renderConfigDocs } from '../../src/core/config/docs.ts';
import { ERROR_CATALOG } from '../../src/core/index.ts';

const doc = (name: string) => readFileSync(new URL(`../../docs/${name}.md`, import.meta.url), 'utf8');

describe('documentation', () => {
  it('docs/configuration.md is exactly what the schema generates (run `npm run docs` after a schema change)', () => {
    assert.equal(doc('configuration'), renderConfigDocs(platformSchema()));
  });

  it('documents every core error code with its status in docs/errors.md', () => {
    const text = doc('errors');
    for (const [code, { status }] of Object.entries(ERROR_CATALOG)) {
      const row = text.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      assert.ok(row, `docs/errors.md has no row for ${code}`);
      assert.ok(
        row.includes(`| ${status} |`) || row.includes('| - |'),
        `row for ${code} lacks its status ${status}`,
      );
    }
  });

  it("documents every component's error codes in docs/<component>.md", async () => {
    for (const entry of COMPONENTS) {
      const component = await entry.load();
      const text = doc(component.name);
      for (const code of Object.keys(component.errors ?? {})) {
        assert.ok(text.includes(`\`${code}\``), `docs/${component.name}.md does not document ${code}`);
      }
    }
  });

  it('names each component with the port and config schema of its definition', async () => {
    for (const entry of COMPONENTS) {
      const component = await entry.load();
      assert.equal(component.name, entry.name);
      assert.equal(component.defaultPort, entry.defaultPort, entry.name);
      assert.equal(component.configProperties, entry.configProperties, entry.name);
    }
  });
});
