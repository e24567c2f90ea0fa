/** Node SDK helpers for services using `keys`: API client, field envelope encryption, tokens and masks. */
export {
  applyMasking,
  compileMaskingPolicy,
  type MaskingPolicy,
  type MaskingRules,
  type MaskKind,
  maskValue,
} from '../../core/masking/index.ts';
export { FieldCipher, type FieldCipherOptions } from './field-cipher.ts';
export { type Context, KeysApiError, KeysClient, type KeysClientOptions } from './keys-client.ts';
