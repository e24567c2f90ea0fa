// Regenerates the reference docs that are derived from code: docs/configuration.md from the config schema.
import { writeFileSync } from 'node:fs';
import { platformSchema } from '../src/cli/components.ts';
import { renderConfigDocs } from '../src/core/config/docs.ts';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigDocs(platformSchema()));
process.stdout.write('docs/configuration.md written\n');
