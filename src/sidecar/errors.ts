/** The sidecar's error codes (documented in `docs/mesh.md`), beside the `mesh_*` codes of core/mtls. */
import { errorFactory } from '../core/index.ts';

export const SIDECAR_ERRORS = {
  sidecar_app_unavailable: { status: 502, title: 'The local application did not answer' },
  sidecar_upstream_unavailable: {
    status: 503,
    title: 'No healthy instance of the upstream service answered',
  },
  sidecar_upstream_timeout: { status: 504, title: 'The upstream service did not answer in time' },
  sidecar_circuit_open: { status: 503, title: 'The circuit to the upstream service is open; failing fast' },
} as const;

export type SidecarErrorCode = keyof typeof SIDECAR_ERRORS;

export const sidecarError = errorFactory(SIDECAR_ERRORS, 'mesh');
