/**
 * Request methods a proxy may send again after a failure: RFC 9110 §9.2.2 idempotent methods, whose
 * repetition has the same effect as one request. Shared by the gateway's and the sidecar's retries.
 */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PUT',
  'DELETE',
]);
