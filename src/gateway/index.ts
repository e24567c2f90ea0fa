/** The gateway component's public names. */

export {
  canonicalTarget,
  DEFAULT_PATH_OPTIONS,
  type PathOptions,
  removeDotSegments,
} from '../core/http/canonical-path.ts';
export { adminRoutes } from './admin/admin-routes.ts';
export { type AuthFailure, type IssuerConfig, JwtAuthenticator } from './auth/jwt-authenticator.ts';
export { type FeedCredentials, RevocationFeed, type RevocationFeedOptions } from './auth/revocation-feed.ts';
export { type RevocationKind, RevocationList } from './auth/revocation-list.ts';
export { gatewayComponent } from './component.ts';
export { GATEWAY_CONFIG, type GatewayConfig } from './config.ts';
export type { CanonicalRequest, Principal, RequestContext } from './context.ts';
export { GATEWAY_ERRORS, type GatewayErrorCode, gatewayError } from './errors.ts';
export { DEFAULT_LIMITS, Gateway, type GatewayOptions } from './gateway.ts';
export { PIPELINE, type StageRow } from './pipeline.ts';
export { diffRouteDocuments, type RouteChange } from './routes/route-diff.ts';
export {
  checkRouteDocument,
  formatRouteFile,
  parseRouteFile,
  ROUTE_FILE_SCHEMA,
  type RouteDocument,
} from './routes/route-file.ts';
export { ASSERTION_ISSUER, ASSERTION_TYP, IDENTITY_HEADER } from './upstream/identity-assertion.ts';
