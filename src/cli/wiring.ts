/**
 * How `bulwark up` wires components that use each other's APIs on the mesh (through `context.mesh`, never
 * by importing each other): identity and audit use `keys`. Loaded only by the process that runs them.
 */
import { createAuditComponent } from '../audit/index.ts';
import { coreError } from '../core/index.ts';
import { createIdentityComponent } from '../identity/index.ts';
import { KeysClient } from '../sdk/keys/index.ts';

/**
 * Identity seals its signing keys and TOTP seeds through `keys` when both run on the mesh (under
 * `bulwark up`, where keys starts before identity); alone, with its local key-encryption key.
 */
export const identityOnKeys = createIdentityComponent({
  keys: async (ctx) => {
    if (!ctx.mesh || ctx.config.components['keys']?.enabled === false) return undefined;
    const url = await ctx.mesh.resolve('keys');
    if (!url) throw new Error('keys is enabled but not registered with authority yet');
    return new KeysClient({ url, caller: ctx.mesh.spiffeId, dispatcher: ctx.mesh.dispatcher('keys') });
  },
});

/**
 * Audit seals personal data under subject keys in `keys` when both run on the mesh. They start together,
 * so keys is found in the registry at the first record that needs it, not at start.
 */
export const auditOnKeys = createAuditComponent({
  keys: (ctx) => {
    const mesh = ctx.mesh;
    if (!mesh || ctx.config.components['keys']?.enabled === false) return undefined;
    let client: Promise<KeysClient> | undefined;
    const keys = () =>
      (client ??= mesh.resolve('keys').then((url) => {
        if (url) return new KeysClient({ url, caller: mesh.spiffeId, dispatcher: mesh.dispatcher('keys') });
        client = undefined;
        throw coreError('upstream_unavailable', 'keys is not registered with authority yet');
      }));
    return {
      subjectEncrypt: async (subject, items) => (await keys()).subjectEncrypt(subject, items),
      subjectDecrypt: async (subject, items) => (await keys()).subjectDecrypt(subject, items),
    };
  },
});
