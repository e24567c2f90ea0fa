/**
 * The wire form of a bundle, as `policy` serves it (`GET /v1/bundle`) and gateways and sidecars pull it.
 * The receiver recompiles it (never trusting the sender's checks) and compares the content hash.
 */
import type { EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import { type BundleSource, bundleHash, type CompiledBundle, type SourceFile } from './bundle.ts';
import { policyEngineError } from './errors.ts';

export const BUNDLE_FORMAT = 'bulwark.policy-bundle/1';

export interface BundleDocument {
  format: typeof BUNDLE_FORMAT;
  /** Monotonic version assigned by `policy`. */
  version: number;
  hash: string;
  createdAt: string;
  policies: SourceFile[];
  schema: SourceFile | null;
  entities: { file: string; entities: EntityJson[] } | null;
}

/** @example reply.header('etag', `"${bundle.hash}"`).send(toBundleDocument(bundle, 7, new Date().toISOString())); */
export function toBundleDocument(bundle: CompiledBundle, version: number, createdAt: string): BundleDocument {
  return {
    format: BUNDLE_FORMAT,
    version,
    hash: bundle.hash,
    createdAt,
    policies: [...bundle.source.policies],
    schema: bundle.source.schema ?? null,
    entities: bundle.source.entities
      ? { file: bundle.source.entities.file, entities: [...bundle.source.entities.entities] }
      : null,
  };
}

/**
 * Reads a document back into a source, checking its shape and that its hash matches its content.
 *
 * @example
 * engine.load(fromBundleDocument(await res.body.json()).source);
 */
export function fromBundleDocument(value: unknown): { source: BundleSource; version: number; hash: string } {
  const doc = value as Partial<BundleDocument> | null;
  const isFile = (f: unknown): f is SourceFile =>
    typeof f === 'object' &&
    f !== null &&
    typeof (f as SourceFile).file === 'string' &&
    typeof (f as SourceFile).text === 'string';
  if (
    !doc ||
    doc.format !== BUNDLE_FORMAT ||
    typeof doc.version !== 'number' ||
    typeof doc.hash !== 'string' ||
    !Array.isArray(doc.policies) ||
    !doc.policies.every(isFile) ||
    (doc.schema !== null && !isFile(doc.schema)) ||
    (doc.entities !== null && (typeof doc.entities !== 'object' || !Array.isArray(doc.entities?.entities)))
  ) {
    throw policyEngineError('policy_bundle_format', `not a ${BUNDLE_FORMAT} document`);
  }
  const source: BundleSource = {
    policies: doc.policies,
    ...(doc.schema ? { schema: doc.schema } : {}),
    ...(doc.entities ? { entities: doc.entities } : {}),
  };
  const hash = bundleHash(source);
  if (hash !== doc.hash) {
    throw policyEngineError(
      'policy_bundle_format',
      `bundle content hashes to ${hash}, not the ${doc.hash} it claims`,
    );
  }
  return { source, version: doc.version, hash };
}
