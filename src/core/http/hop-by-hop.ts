/**
 * Hop-by-hop header fields, which a proxy never forwards (RFC 9110 §7.6.1). Shared by the gateway and the
 * sidecar so that every hop strips the same set, including the fields a `Connection` header names: an
 * attacker listing `x-bulwark-identity` there must not make a proxy drop a header it set itself, nor keep
 * one it should have dropped.
 */

/** RFC 9110 §7.6.1 and RFC 9113 §8.2.2 connection-specific fields, plus the legacy ones proxies still meet. */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * The field names a `Connection` header value lists, lower-cased (they are hop-by-hop too).
 *
 * @example
 * connectionOptions('close, X-Trace') // Set { 'close', 'x-trace' }
 */
export function connectionOptions(value: string): Set<string> {
  const named = new Set<string>();
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t) named.add(t);
  }
  return named;
}
