/**
 * Error codes of the mTLS building blocks shared by `authority`, the sidecar, the Node SDK and (after the
 * lead's integration) every component's listener. They belong to the mesh family, documented in
 * `docs/mesh.md`.
 */
import { errorFactory } from '../errors.ts';

export const MTLS_ERRORS = {
  mesh_spiffe_id_invalid: { status: 400, title: 'The value is not a valid SPIFFE ID' },
  mesh_svid_invalid: { status: 401, title: 'The certificate is not a conformant X.509-SVID' },
  mesh_peer_unauthenticated: { status: 401, title: 'The peer presented no verified client certificate' },
  mesh_peer_revoked: { status: 401, title: 'The peer certificate has been revoked' },
  mesh_peer_wrong_trust_domain: { status: 403, title: 'The peer belongs to another trust domain' },
  mesh_peer_forbidden: { status: 403, title: 'The peer SPIFFE ID is not allowed to call this service' },
} as const;

export type MtlsErrorCode = keyof typeof MTLS_ERRORS;

export const mtlsError = errorFactory(MTLS_ERRORS, 'mesh');
