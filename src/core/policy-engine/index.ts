/**
 * The embedded policy engine: what the gateway, the sidecar and `policy` import to decide in-process.
 * It never imports the `policy` component.
 */

export {
  arrayElementLines,
  type BundleSource,
  bundleHash,
  type CompiledBundle,
  compileBundle,
  type PolicyInfo,
  type SourceFile,
} from './bundle.ts';
export { BundleClient, type BundleClientOptions, type PollResult } from './bundle-client.ts';
export {
  BUNDLE_FORMAT,
  type BundleDocument,
  fromBundleDocument,
  toBundleDocument,
} from './bundle-document.ts';
export { canonicalJson } from './canonical.ts';
export { DecisionLog, type DecisionLogOptions } from './decision-log.ts';
export {
  type Decision,
  type DecisionError,
  type DecisionRequest,
  PolicyEngine,
  type PolicyEngineOptions,
} from './engine.ts';
export { EntityIndex, sliceEntities } from './entity-slice.ts';
export { actionRef, type EntityRef, formatRef, parseEntityRef, refOf, uidKey } from './entity-uid.ts';
export { type BundleIssue, formatIssue, POLICY_ENGINE_ERRORS, policyEngineError } from './errors.ts';
export { type HttpRequestFacts, requestContext } from './request-context.ts';
export { BULWARK_NAMESPACE, BULWARK_SCHEMA, BULWARK_SCHEMA_FILE } from './schema.ts';
