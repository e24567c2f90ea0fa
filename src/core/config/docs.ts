/**
 * Renders `docs/configuration.md` from the schema, so the reference cannot drift from the code: a test
 * regenerates it and compares (`npm run docs` rewrites it).
 */
import type { JsonSchema } from './schema.ts';

export function renderConfigDocs(schema: JsonSchema): string {
  const rows: string[] = [];
  walk(schema, [], rows);
  return `${[
    '# Configuration reference',
    '',
    '<!-- Generated from the JSON Schema by `npm run docs`; do not edit by hand (a test compares). -->',
    '',
    'Bulwark reads one YAML file (`--config FILE`, else `$BULWARK_CONFIG`, else `./bulwark.yaml` when present),',
    'then applies `BULWARK_*` environment variables: `__` separates levels and each level is the key in upper',
    'snake case, so `server.limits.bodyBytes` is `BULWARK_SERVER__LIMITS__BODY_BYTES`. Values are YAML scalars.',
    '`BULWARK_HOME` sets `home`; `BULWARK_GATEWAY_TOKEN` is read by `bulwark gateway` only (an admin token). The',
    'result is validated against the schema, checked for insecure combinations',
    '(an error in `production` mode, a warning in `development`), and frozen. `bulwark config check FILE` prints',
    'every problem at once with the key path and the fix.',
    '',
    'Every default below is the secure one: a file with no keys at all runs Bulwark safely on one machine.',
    '',
    '| key | environment variable | type | default | description |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n')}\n`;
}

function walk(node: JsonSchema, path: string[], rows: string[]): void {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const here = [...path, key];
    const isSection = child.type === 'object' && child.properties !== undefined;
    if (isSection) {
      if (child.description && Object.keys(child.properties ?? {}).length === 0) rows.push(row(here, child));
      walk(child, here, rows);
    } else {
      rows.push(row(here, child));
    }
  }
}

function row(path: string[], node: JsonSchema): string {
  const env = `BULWARK_${path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('__')}`;
  const type = node.enum ? node.enum.map((v) => `\`${String(v)}\``).join(' \\| ') : typeName(node);
  const def =
    node['x-default-doc'] ??
    (node.default === undefined ? '(required)' : `\`${JSON.stringify(node.default)}\``);
  const description = (node.description ?? '').replaceAll('|', '\\|');
  return `| \`${path.join('.')}\` | \`${env}\` | ${type} | ${def} | ${description} |`;
}

function typeName(node: JsonSchema): string {
  const t = typeof node.type === 'string' ? node.type : (node.type ?? ['any']).join(' or ');
  return node.type === 'array' && node.items?.type ? `array of ${String(node.items.type)}` : t;
}
