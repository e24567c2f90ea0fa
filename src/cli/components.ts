/**
 * The components `bulwark up` knows (up.ts decides the start order). This is
 * the one place that imports every component: components never import each other.
 */
import { auditComponent } from '../audit/index.ts';
import { authorityComponent } from '../authority/index.ts';
import { buildConfigSchema, type ComponentDefinition, type JsonSchema } from '../core/index.ts';
import { gatewayComponent } from '../gateway/index.ts';
import { createIdentityComponent } from '../identity/index.ts';
import { keysComponent } from '../keys/index.ts';
import { policyComponent } from '../policy/index.ts';
import { KeysClient } from '../sdk/keys/index.ts';

/**
 * Identity seals its signing keys and TOTP seeds through `keys` when both run on the mesh (under
 * `bulwark up`, where keys starts before identity); alone, with its local key-encryption key.
 */
const identityOnKeys = createIdentityComponent({
  keys: async (ctx) => {
    if (!ctx.mesh || ctx.config.components['keys']?.enabled === false) return undefined;
    const url = await ctx.mesh.resolve('keys');
    if (!url) throw new Error('keys is enabled but not registered with authority yet');
    return new KeysClient({ url, caller: ctx.mesh.spiffeId, dispatcher: ctx.mesh.dispatcher('keys') });
  },
});

export const COMPONENTS: readonly ComponentDefinition[] = [
  auditComponent,
  authorityComponent,
  identityOnKeys,
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
