/**
 * The state of `policy`: the bundle made of the policy directory plus the documents written through the
 * API. Every change is compiled first; only a bundle that compiles becomes a new version, so what gateways
 * pull has always passed the same checks the engine applies. The service's own engine (decision API,
 * analysis) always runs the latest version.
 */
import type { AuditActor, AuditSink, Clock, Logger } from '../core/index.ts';
import {
  type BundleDocument,
  type BundleIssue,
  type BundleSource,
  type CompiledBundle,
  compileBundle,
  formatIssue,
  fromBundleDocument,
  type PolicyEngine,
  toBundleDocument,
} from '../core/policy-engine/index.ts';
import { readBundleDirectory } from './directory-source.ts';
import { policyError } from './errors.ts';
import type { PolicyStore, StoredDocument } from './policy-store.ts';

/** The component itself: the actor of directory reloads, and of changes when callers carry no identity. */
const SELF: AuditActor = { type: 'system', id: 'policy' };

/** API documents appear in the bundle under this prefix, apart from the directory's files. */
export const API_PREFIX = 'api:';
export const DOCUMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export interface PolicyDocumentInfo {
  name: string;
  source: 'directory' | 'api';
  text: string;
  updatedAt?: string;
}

export interface PolicyServiceOptions {
  store: PolicyStore;
  engine: PolicyEngine;
  /** Policy directory; null for API-only. */
  directory: string | null;
  clock: Clock;
  logger: Logger;
  /** Where bundle changes and rejections are recorded (security events: who can do what changed). */
  audit?: AuditSink;
}

/**
 * @example
 * const service = new PolicyService({ store, engine, directory: 'policies', clock, logger });
 * await service.start();
 * await service.put('freeze.cedar', 'forbid(principal, action, resource);'); // a new version, or 422
 */
export class PolicyService {
  readonly #o: PolicyServiceOptions;
  #current: { document: BundleDocument; compiled: CompiledBundle } | undefined;
  /** The issues of the last rejected directory, so a bad directory is logged once, not every reload. */
  #rejected: string | undefined;
  /** Long-poll requests waiting for the next version. */
  readonly #waiters = new Set<() => void>();

  constructor(options: PolicyServiceOptions) {
    this.#o = options;
  }

  get store(): PolicyStore {
    return this.#o.store;
  }

  get engine(): PolicyEngine {
    return this.#o.engine;
  }

  /** The bundle in force: its wire document and its compiled form. */
  get current(): { document: BundleDocument; compiled: CompiledBundle } | undefined {
    return this.#current;
  }

  /** Migrates, applies the latest stored version, then picks up the directory. */
  async start(): Promise<void> {
    await this.#o.store.migrate();
    await this.sync();
    await this.reload();
  }

  /** Applies the newest stored version if another replica (or a restart) made one. */
  async sync(): Promise<void> {
    const latest = await this.#o.store.latest();
    if (!latest || latest.hash === this.#current?.document.hash) return;
    const document = await this.#o.store.bundle(latest.version);
    if (!document) return;
    this.#apply(document, compileBundle(fromBundleDocument(document).source));
  }

  /**
   * Re-reads the directory. A directory that fails to compile is logged with every issue and ignored: the
   * version in force keeps serving.
   */
  async reload(): Promise<{ changed: boolean; version: number | undefined }> {
    try {
      const { created } = await this.#write(undefined, 'directory');
      this.#rejected = undefined;
      return { changed: created, version: this.#current?.document.version };
    } catch (err) {
      if ((err as { code?: string }).code !== 'policy_bundle_invalid') throw err;
      const issues = (err as { details?: { issues?: BundleIssue[] } }).details?.issues ?? [];
      // Log a broken directory once per content, not at every reload.
      const key = issues.map(formatIssue).join('\n');
      if (key !== this.#rejected) {
        this.#rejected = key;
        this.#record('policy.bundle.rejected', 'failure', { source: 'directory', issues: issues.length });
        this.#o.logger.error(
          { code: 'policy_bundle_invalid', issues: issues.map(formatIssue) },
          'policy bundle rejected; the previous version keeps serving',
        );
      }
      throw err;
    }
  }

  async documents(): Promise<PolicyDocumentInfo[]> {
    const dir = this.#directorySource();
    const files = dir.policies.map((f) => ({ name: f.file, source: 'directory' as const, text: f.text }));
    const api = (await this.#o.store.documents()).map((d) => ({
      name: d.name,
      source: 'api' as const,
      text: d.text,
      updatedAt: d.updatedAt,
    }));
    return [...files, ...api];
  }

  async document(name: string): Promise<PolicyDocumentInfo> {
    const found = (await this.documents()).find((d) => d.name === name);
    if (!found) throw policyError('policy_not_found', `no policy document named ${name}`);
    return found;
  }

  /** Writes an API document; throws `policy_bundle_invalid` (nothing stored) when the result would not compile. */
  async put(
    name: string,
    text: string,
    actor: AuditActor = SELF,
  ): Promise<{ document: BundleDocument; created: boolean; compiled: CompiledBundle }> {
    this.#checkName(name);
    const { document, compiled, existed } = await this.#write({ name, text }, `api:${name}`, actor);
    return { document, created: !existed, compiled };
  }

  async remove(name: string, actor: AuditActor = SELF): Promise<BundleDocument> {
    this.#checkName(name);
    return (await this.#write({ name, text: null }, `api:${name}`, actor)).document;
  }

  /**
   * Applies a change through the store's serialized commit: the set is composed and compiled inside it, so
   * concurrent writes (here or on another replica) never lose each other's documents.
   */
  async #write(
    change: { name: string; text: string | null } | undefined,
    what: string,
    actor: AuditActor = SELF,
  ): Promise<{ document: BundleDocument; compiled: CompiledBundle; created: boolean; existed: boolean }> {
    const at = new Date(this.#o.clock.now()).toISOString();
    const result = await this.#o.store.commit(
      change && { ...change, at },
      (documents, existed) => {
        if (change?.text === null && !existed) {
          throw policyError('policy_not_found', `no API policy document named ${change.name}`);
        }
        try {
          return compileBundle(this.#compose(documents));
        } catch (err) {
          // Directory rejections are recorded by reload, once per content.
          if (change) {
            const issues = (err as { details?: { issues?: unknown[] } }).details?.issues?.length ?? 0;
            this.#record('policy.bundle.rejected', 'failure', { source: what, issues }, actor);
          }
          throw err;
        }
      },
      (compiled, version) => toBundleDocument(compiled, version, at),
    );
    const { built: compiled, document, created, existed } = result;
    if (document.hash !== this.#current?.document.hash) this.#apply(document, compiled);
    if (created) {
      this.#o.logger.info(
        { version: document.version, hash: document.hash },
        'policy bundle version applied',
      );
      this.#record(
        'policy.bundle.applied',
        'success',
        {
          version: document.version,
          hash: document.hash,
          policies: compiled.policies.length,
          change: change
            ? { document: change.name, op: change.text === null ? 'delete' : 'put' }
            : { source: 'directory' },
        },
        actor,
      );
    }
    return { document, compiled, created, existed };
  }

  /** Compiles the current set with one document replaced, without storing anything (console "check"). */
  async check(name: string, text: string): Promise<CompiledBundle> {
    this.#checkName(name);
    const docs = (await this.#o.store.documents()).filter((d) => d.name !== name);
    return compileBundle(this.#compose([...docs, { name, text, updatedAt: '' }]));
  }

  /** `actor`: who asked for the change (the caller's SPIFFE ID on the mesh), else the component itself. */
  #record(
    action: string,
    outcome: 'success' | 'failure',
    details: Record<string, unknown>,
    actor: AuditActor = SELF,
  ): void {
    this.#o.audit?.record({
      actor,
      action,
      target: { type: 'policy-bundle', id: String(details['version'] ?? 'rejected') },
      outcome,
      source: { component: 'policy' },
      category: 'security',
      details,
    });
  }

  #checkName(name: string): void {
    if (!DOCUMENT_NAME.test(name)) {
      throw policyError(
        'policy_not_found',
        `policy document names match ${DOCUMENT_NAME}: got ${JSON.stringify(name)}`,
        {
          status: 400,
        },
      );
    }
  }

  #directorySource(): BundleSource {
    return this.#o.directory ? readBundleDirectory(this.#o.directory) : { policies: [] };
  }

  #compose(documents: readonly StoredDocument[]): BundleSource {
    const dir = this.#directorySource();
    const api = documents.map((d) => ({ file: `${API_PREFIX}${d.name}`, text: d.text }));
    return { ...dir, policies: [...dir.policies, ...api] };
  }

  #apply(document: BundleDocument, compiled: CompiledBundle): void {
    this.#o.engine.apply(compiled);
    this.#current = { document, compiled };
    this.wakeWaiters();
  }

  /**
   * Resolves when the bundle in force is no longer `hash`, after `timeoutMs`, or at {@link wakeWaiters}
   * (shutdown): the long poll through which gateways get a new version as soon as it exists.
   */
  waitForChange(hash: string, timeoutMs: number): Promise<void> {
    if (this.#current?.document.hash !== hash) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(done);
    });
  }

  wakeWaiters(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}
