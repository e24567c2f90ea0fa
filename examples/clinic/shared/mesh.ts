/**
 * How the SDK services (`patients`, `appointments`, the `keys` ingress) join the mesh: attest with the
 * one-time join token, load the service-to-service Cedar policy, serve over mTLS, register the port in
 * authority's discovery and keep it alive with heartbeats.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import type { AuditSink } from '../../../src/core/index.ts';
import { PolicyEngine } from '../../../src/core/policy-engine/index.ts';
import {
  AuthorityClient,
  createMeshServer,
  MeshClient,
  type MeshHandler,
  ServicePolicy,
  WorkloadIdentity,
} from '../../../src/sdk/mesh/index.ts';

export const POLICY_DIR = join(import.meta.dirname, '..', 'policies');

export interface MeshOptions {
  /** authority's base URL (`https://127.0.0.1:7305`). */
  authorityUrl: string;
  /** PEM the authority's server certificate chains to (`<home>/tls/ca.crt`). */
  authorityCa: string;
  /** One-time token from `bulwark authority join-token <service>`. */
  joinToken: string;
  /** Cedar files of the service-to-service policy (default: every `*.cedar` in examples/clinic/policies). */
  policyFiles?: readonly string[];
}

export interface ClinicMesh {
  identity: WorkloadIdentity;
  authority: AuthorityClient;
  client: MeshClient;
  policy: ServicePolicy;
  close(): Promise<void>;
}

export function clinicPolicyFiles(dir = POLICY_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cedar'))
    .sort()
    .map((f) => join(dir, f));
}

/** The identity this process joined with: its audit client presents it once it exists. */
export const joined: { identity?: WorkloadIdentity } = {};

export async function joinClinicMesh(
  options: MeshOptions,
  onError?: (err: unknown) => void,
): Promise<ClinicMesh> {
  const authority = new AuthorityClient({ url: options.authorityUrl, authorityCa: options.authorityCa });
  const identity = await WorkloadIdentity.join({
    authority,
    joinToken: options.joinToken,
    onError: onError ?? (() => undefined),
  });
  joined.identity = identity;
  const engine = new PolicyEngine();
  engine.load({
    policies: (options.policyFiles ?? clinicPolicyFiles()).map((file) => ({
      file: basename(file),
      text: readFileSync(file, 'utf8'),
    })),
  });
  const client = new MeshClient({ identity, resolve: (name) => authority.resolve(name) });
  return {
    identity,
    authority,
    client,
    policy: new ServicePolicy(engine),
    close: async () => {
      await client.close();
      await identity.close();
    },
  };
}

export interface ServedMesh {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Serves `handler` over mTLS and registers `advertiseHost:port` in discovery under this identity. */
export async function serveMesh(
  mesh: ClinicMesh,
  handler: MeshHandler,
  options: { port?: number; host?: string; advertiseHost?: string; audit?: AuditSink; component: string },
): Promise<ServedMesh> {
  const server = createMeshServer({
    identity: mesh.identity,
    policy: mesh.policy,
    handler,
    component: options.component,
    ...(options.audit ? { audit: options.audit } : {}),
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const registration = await mesh.authority.register(options.advertiseHost ?? host, port);
  const heartbeat = setInterval(
    () => void mesh.authority.heartbeat(registration.id).catch(() => undefined),
    Math.max(500, (registration.ttlSeconds * 1000) / 3),
  );
  heartbeat.unref();
  return {
    server,
    port,
    url: `https://${options.advertiseHost ?? host}:${port}`,
    close: async () => {
      clearInterval(heartbeat);
      await mesh.authority.deregister(registration.id).catch(() => undefined);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
