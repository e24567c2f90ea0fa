/**
 * The mesh entry of a `keys` that runs alone on the local CA (`bulwark run keys` without a join token).
 * Such a `keys` serves server-authenticated HTTPS and trusts the caller named in `x-bulwark-caller`, which
 * it must only do behind mTLS. This ingress joins the mesh as `spiffe://<td>/service/keys` and registers
 * in discovery, so the SDK services and `billing`'s sidecar reach `keys` by name over mTLS under the
 * service-to-service policy; it forwards each allowed request with `x-bulwark-caller` set to the caller's
 * verified SPIFFE ID (every copy the caller sent is dropped), so `keys`' own per-key ACL then decides on
 * an identity that was proven, not claimed. Under `bulwark up`, `keys` joins the mesh itself and reads the
 * caller from its certificate: this ingress is then not used (see the README).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, request } from 'undici';
import type { AuditSink } from '../../../src/core/index.ts';
import { type ClinicMesh, joinClinicMesh, type MeshOptions, serveMesh } from '../shared/mesh.ts';

export interface KeysIngressOptions extends MeshOptions {
  /** The `keys` component's URL (`https://127.0.0.1:7303`). */
  keysUrl: string;
  /** PEM that the `keys` server certificate chains to. */
  keysCa: string;
  port?: number;
  host?: string;
  advertiseHost?: string;
  audit?: AuditSink;
}

export interface RunningService {
  url: string;
  port: number;
  spiffeId: string;
  close(): Promise<void>;
}

/** Request headers worth passing to `keys`; everything else (identity headers included) stays behind. */
const PASSED = ['content-type', 'accept', 'x-request-id'];

export async function startKeysIngress(options: KeysIngressOptions): Promise<RunningService> {
  const mesh: ClinicMesh = await joinClinicMesh(options);
  const agent = new Agent({ connect: { ca: options.keysCa } });
  const base = options.keysUrl.replace(/\/$/, '');
  const handler = async (req: IncomingMessage, res: ServerResponse, peer: { spiffeId: { uri: string } }) => {
    const headers: Record<string, string> = { 'x-bulwark-caller': peer.spiffeId.uri };
    for (const name of PASSED) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const upstream = await request(`${base}${req.url ?? '/'}`, {
      method: (req.method ?? 'GET') as 'GET',
      headers,
      dispatcher: agent,
      ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body: req }),
    });
    const type = upstream.headers['content-type'];
    res.writeHead(upstream.statusCode, {
      ...(typeof type === 'string' ? { 'content-type': type } : {}),
      'cache-control': 'no-store',
    });
    for await (const chunk of upstream.body) res.write(chunk);
    res.end();
  };
  // The listen settings (port, host, advertised host) and the audit sink come with the options.
  const served = await serveMesh(mesh, handler, { ...options, component: 'keys-ingress' });
  return {
    url: served.url,
    port: served.port,
    spiffeId: mesh.identity.spiffeId,
    close: async () => {
      await served.close();
      await agent.close();
      await mesh.close();
    },
  };
}
