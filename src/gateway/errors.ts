/**
 * The gateway's error catalog. Every refusal the gateway itself answers carries one of these codes in an
 * RFC 9457 problem document; each code has a row in `docs/gateway.md`. Bodies never echo the request.
 */
import { errorFactory } from '../core/index.ts';

export const GATEWAY_ERRORS = {
  gateway_bad_request: { status: 400, title: 'The request is not a well-formed HTTP/1.1 request' },
  gateway_path_rejected: { status: 400, title: 'The request path is not in canonical, allowed form' },
  gateway_host_rejected: { status: 400, title: 'The Host header is missing, repeated or malformed' },
  gateway_misdirected: { status: 421, title: 'This gateway does not serve that host' },
  gateway_route_not_found: { status: 404, title: 'No route matches the request' },
  gateway_method_not_allowed: { status: 405, title: 'The route does not allow this method' },
  gateway_ip_denied: { status: 403, title: 'The client address is not allowed on this route' },
  gateway_rate_limited: { status: 429, title: 'Too many requests' },
  gateway_concurrency_limited: { status: 503, title: 'Too many requests in flight on this route' },
  gateway_rate_store_unavailable: { status: 503, title: 'The shared rate-limit store is unavailable' },
  gateway_unauthenticated: { status: 401, title: 'A valid access token or API key is required' },
  gateway_forbidden: { status: 403, title: 'The policy does not allow this request' },
  gateway_cors_rejected: { status: 403, title: 'The origin is not allowed by the CORS policy' },
  gateway_validation_failed: { status: 400, title: 'The request does not match the route schema' },
  gateway_unsupported_media_type: {
    status: 415,
    title: 'The request body has a content type the route refuses',
  },
  gateway_body_too_large: { status: 413, title: 'The request body is larger than the route allows' },
  gateway_upstream_unavailable: { status: 503, title: 'No healthy upstream target is available' },
  gateway_upstream_timeout: { status: 504, title: 'The upstream service did not answer in time' },
  gateway_upstream_error: { status: 502, title: 'The upstream service failed' },
  gateway_route_file_invalid: { status: 400, title: 'The route file is invalid' },
  gateway_admin_forbidden: { status: 403, title: 'The admin token is missing or lacks the role' },
} as const;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

export const gatewayError = errorFactory(GATEWAY_ERRORS, 'gateway');
