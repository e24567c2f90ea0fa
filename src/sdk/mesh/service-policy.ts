/**
 * The service-to-service check: may the caller (its verified SPIFFE ID) `call` this service? Decided by
 * the embedded Cedar engine (core/policy-engine) under Bulwark's schema: principal and resource are
 * `Bulwark::Service` entities whose id is the SPIFFE ID. No bundle, or an error, means deny.
 * Repeated calls are answered from a per-bundle memo without reaching the engine (so an engine decision
 * log sees each distinct call once per bundle; denials are audited by the mesh server every time).
 */
import type { EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import { parseSpiffeId } from '../../core/mtls/index.ts';
import {
  type Decision,
  type DecisionRequest,
  type PolicyEngine,
  refOf,
  requestContext,
  uidKey,
} from '../../core/policy-engine/index.ts';
import { isCanonicalPath } from '../../core/policy-engine/request-context.ts';

export interface ServiceCall {
  /** Verified SPIFFE ID of the caller. */
  caller: string;
  /** SPIFFE ID of the service being called. */
  callee: string;
  method: string;
  /** The canonical path (see `meshTarget`), which must be the one the request is then served with. */
  path: string;
  sourceIp: string;
  /** Time of the request (ms since the epoch, from the injected clock). */
  at: number;
}

const SERVICE = 'Bulwark::Service';
/** Decisions remembered per bundle; the key holds every input of the decision, so a hit is exact. */
const MAX_REMEMBERED = 10_000;

export class ServicePolicy {
  readonly #engine: PolicyEngine;
  #known: { hash: string; keys: Set<string> } | undefined;
  #remembered: { hash: string; decisions: Map<string, Decision> } | undefined;

  constructor(engine: PolicyEngine) {
    this.#engine = engine;
  }

  get engine(): PolicyEngine {
    return this.#engine;
  }

  /**
   * @example
   * const d = policy.authorize({ caller, callee: identity.spiffeId, method: 'GET', path: '/orders', sourceIp, at: clock.now() });
   */
  authorize(call: ServiceCall, requestId?: string): Decision {
    // A raw target here (`/x/../admin`) would be matched by the rules as written, then served as another
    // path: deny rather than decide on it.
    if (!isCanonicalPath(call.path)) {
      return {
        decision: 'deny',
        policies: [],
        errors: [{ message: 'the request path is not canonical' }],
        bundle: this.#engine.bundle?.hash ?? null,
        cached: false,
      };
    }
    // The hot path of every inbound request: skip building entities and the engine's canonical cache
    // key when this exact call was decided under this bundle already.
    const hash = this.#engine.bundle?.hash;
    const at = new Date(call.at);
    const key = `${call.caller}\n${call.callee}\n${call.method}\n${call.path}\n${plainIp(call.sourceIp)}\n${at.getUTCHours()}\n${at.getUTCDay()}`;
    if (hash && this.#remembered?.hash === hash) {
      const known = this.#remembered.decisions.get(key);
      if (known) return known;
    }
    const decision = this.#decide(call, requestId);
    if (hash && decision.errors.length === 0) {
      if (this.#remembered?.hash !== hash || this.#remembered.decisions.size >= MAX_REMEMBERED) {
        this.#remembered = { hash, decisions: new Map() };
      }
      this.#remembered.decisions.set(key, decision);
    }
    return decision;
  }

  /**
   * Runs a typical decision (this service calling itself on `/`) through the engine without logging or
   * memoising it, so the first real caller does not wait for the engine's first run (~25-40 ms).
   */
  warm(self: string): void {
    const at = Date.now();
    this.#engine.rehearse(
      this.#request({ caller: self, callee: self, method: 'GET', path: '/', sourceIp: '127.0.0.1', at }),
    );
  }

  #decide(call: ServiceCall, requestId?: string): Decision {
    return this.#engine.decide(this.#request(call), requestId);
  }

  #request(call: ServiceCall): DecisionRequest {
    const entities: EntityJson[] = [];
    for (const id of [call.caller, call.callee]) {
      // Services the bundle describes keep their roles (parents); others are known only by trust domain.
      if (!this.#inBundle(id)) {
        entities.push({
          uid: { type: SERVICE, id },
          attrs: { trustDomain: parseSpiffeId(id).trustDomain },
          parents: [],
        });
      }
    }
    return {
      principal: { type: SERVICE, id: call.caller },
      action: 'call',
      resource: { type: SERVICE, id: call.callee },
      context: requestContext({
        method: call.method,
        path: call.path,
        sourceIp: plainIp(call.sourceIp),
        at: call.at,
      }),
      entities,
    };
  }

  #inBundle(id: string): boolean {
    const bundle = this.#engine.bundle;
    if (!bundle) return false;
    if (this.#known?.hash !== bundle.hash) {
      this.#known = { hash: bundle.hash, keys: new Set(bundle.entities.map((e) => uidKey(refOf(e.uid)))) };
    }
    return this.#known.keys.has(uidKey({ type: SERVICE, id }));
  }
}

/** Cedar's ipaddr takes dotted IPv4; Node reports IPv4 peers on dual-stack sockets as `::ffff:a.b.c.d`. */
function plainIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip || '0.0.0.0';
}
