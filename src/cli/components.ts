/**
 * The components `bulwark up` knows (up.ts decides the start order). This is the one place that names
 * every component: components never import each other. Each entry carries what checking the
 * configuration needs (its schema, default port) and loads the component's code only when asked, so a
 * process that runs one component (or none, like `status`) does not load all of them.
 */
import { AUDIT_CONFIG_PROPERTIES } from '../audit/config.ts';
import { AUTHORITY_CONFIG } from '../authority/config.ts';
import { buildConfigSchema, type ComponentDefinition, type JsonSchema } from '../core/index.ts';
import { GATEWAY_CONFIG } from '../gateway/config.ts';
import { IDENTITY_CONFIG } from '../identity/config.ts';
import { KEYS_CONFIG } from '../keys/config.ts';
import { POLICY_CONFIG } from '../policy/config.ts';

export interface ComponentEntry {
  name: string;
  defaultPort: number;
  configProperties: Record<string, JsonSchema>;
  /** The component's definition, with its runtime wiring (imports its code). */
  load(): Promise<ComponentDefinition>;
}

export const COMPONENTS: readonly ComponentEntry[] = [
  {
    name: 'audit',
    defaultPort: 7301,
    configProperties: AUDIT_CONFIG_PROPERTIES,
    load: async () => (await import('./wiring.ts')).auditOnKeys,
  },
  {
    name: 'authority',
    defaultPort: 7305,
    configProperties: AUTHORITY_CONFIG,
    load: async () => (await import('../authority/index.ts')).authorityComponent,
  },
  {
    name: 'identity',
    defaultPort: 7304,
    configProperties: IDENTITY_CONFIG,
    load: async () => (await import('./wiring.ts')).identityOnKeys,
  },
  {
    name: 'policy',
    defaultPort: 7302,
    configProperties: POLICY_CONFIG,
    load: async () => (await import('../policy/index.ts')).policyComponent,
  },
  {
    name: 'keys',
    defaultPort: 7303,
    configProperties: KEYS_CONFIG,
    load: async () => (await import('../keys/index.ts')).keysComponent,
  },
  {
    name: 'gateway',
    defaultPort: 7408,
    configProperties: GATEWAY_CONFIG,
    load: async () => (await import('../gateway/index.ts')).gatewayComponent,
  },
];

export async function loadComponent(name: string): Promise<ComponentDefinition | undefined> {
  return COMPONENTS.find((c) => c.name === name)?.load();
}

/** The schema of the whole configuration file: core keys plus every component's section. */
export function platformSchema(components: readonly ComponentEntry[] = COMPONENTS): JsonSchema {
  return buildConfigSchema(
    components.map((c) => ({ name: c.name, defaultPort: c.defaultPort, properties: c.configProperties })),
  );
}
