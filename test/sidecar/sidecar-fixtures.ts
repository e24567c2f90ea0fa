/** A small mesh on loopback: authority, apps behind sidecars, and helpers to call them. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryAuditSink } from '../../src/core/index.ts';
import type { WorkloadIdentity } from '../../src/sdk/mesh/index.ts';
import { DEFAULT_SIDECAR } from '../../src/sidecar/config.ts';
import { type SidecarSettings, startSidecar } from '../../src/sidecar/index.ts';
import type { TestAuthority } from '../authority/fixtures.ts';
import { joinWorkload, meshPolicy } from '../sdk/mesh-fixtures.ts';

export interface AppHit {
  path: string;
  peer: string | undefined;
  spoofCopies: number;
}

/** A plain HTTP app on loopback that records the identity header the sidecar gave it. */
export async function startApp(name: string): Promise<{ server: Server; port: number; hits: AppHit[] }> {
  const hits: AppHit[] = [];
  const server = createServer((req, res) => {
    const peer = req.headers['x-bulwark-peer-id'];
    hits.push({
      path: req.url ?? '',
      peer: Array.isArray(peer) ? peer.join(',') : peer,
      spoofCopies: req.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'x-bulwark-peer-id')
        .length,
    });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ app: name, peer: peer ?? null }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, hits };
}

export async function meshSidecar(
  authority: TestAuthority,
  service: string,
  settings: Partial<SidecarSettings> & { appPort: number },
  policyText?: string,
) {
  const identity: WorkloadIdentity = await joinWorkload(authority, service);
  const client = authority.client();
  client.useCredentials(identity.credentials);
  const audit = new MemoryAuditSink();
  const sidecar = await startSidecar({
    settings: { ...DEFAULT_SIDECAR, inboundPort: 0, adminPort: 0, ...settings },
    identity,
    policy: meshPolicy(policyText),
    authority: client,
    audit,
  });
  return {
    identity,
    sidecar,
    audit,
    stop: async () => {
      await sidecar.stop();
      await identity.close();
      await client.close();
    },
  };
}
