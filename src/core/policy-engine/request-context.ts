/** Builds the `RequestContext` of Bulwark's schema from what the gateway or sidecar knows of a request. */
import type { Context } from '@cedar-policy/cedar-wasm/nodejs';

export interface HttpRequestFacts {
  method: string;
  /** Path without the query string. */
  path: string;
  sourceIp: string;
  /** The token's `amr` claim (RFC 8176); empty when the caller has none. */
  amr?: readonly string[];
  /** When the request arrived, in ms since the epoch (from the injected clock). */
  at: number;
}

/**
 * @example
 * const context = requestContext({ method: 'GET', path: '/orders', sourceIp: '10.0.0.7', amr: ['pwd'], at: clock.now() });
 */
export function requestContext(facts: HttpRequestFacts): Context {
  const at = new Date(facts.at);
  return {
    method: facts.method.toUpperCase(),
    path: facts.path,
    // The schema types sourceIp as ipaddr: Cedar parses the string with the schema's guidance.
    sourceIp: facts.sourceIp,
    amr: [...(facts.amr ?? [])],
    hour: at.getUTCHours(),
    weekday: at.getUTCDay(),
  };
}
