/**
 * The components `bulwark up` knows, in start order (audit first, since the others write to it). This is
 * the one place that imports every component: components never import each other.
 */
import { auditComponent } from '../audit/index.ts';
import { authorityComponent } from '../authority/index.ts';
import { buildConfigSchema, type ComponentDefinition, type JsonSchema } from '../core/index.ts';
import { gatewayComponent } from '../gateway/index.ts';
import { identityComponent } from '../identity/index.ts';
import { keysComponent } from '../keys/index.ts';
import { policyComponent } from '../policy/index.ts';

export const COMPONENTS: readonly ComponentDefinition[] = [
  auditComponent,
  authorityComponent,
  identityComponent,
  policyComponent,
  keysComponent,
  gatewayComponent,
];

export function findComponent(name: string): ComponentDefinition | undefined {
  return COMPONENTS.find((c) => c.name === name);
}

/** The schema of the whole configuration file: core keys plus every component's section. */
export function platformSchema(components: readonly ComponentDefinition[] = COMPONENTS): JsonSchema {
  return buildConfigSchema(
    components.map((c) => ({ name: c.name, defaultPort: c.defaultPort, properties: c.configProperties })),
  );
}
