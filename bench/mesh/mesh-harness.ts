/** Starts a small mesh for benchmarks and scanners: authority, two apps, and their sidecars. */
import { startAuthority, type TestAuthority } from '../../test/authority/fixtures.ts';
import { meshSidecar, startApp } from '../../test/sidecar/sidecar-fixtures.ts';

export interface BenchMesh {
  authority: TestAuthority;
  /** Plain HTTP port of the orders app (the baseline). */
  appPort: number;
  /** frontend's loopback port for calls to orders (through both sidecars, mTLS between them). */
  outboundPort: number;
  /** orders sidecar's inbound mTLS port. */
  inboundPort: number;
  stop(): Promise<void>;
}

export async function startBenchMesh(): Promise<BenchMesh> {
  const authority = await startAuthority('sqlite');
  const app = await startApp('orders');
  const orders = await meshSidecar(authority, 'orders', { appPort: app.port, adminPort: -1 });
  const frontend = await meshSidecar(authority, 'frontend', {
    appPort: 9,
    adminPort: -1,
    outbound: [{ service: 'orders', port: 0 }],
  });
  return {
    authority,
    appPort: app.port,
    outboundPort: frontend.sidecar.outboundPorts['orders']!,
    inboundPort: orders.sidecar.inboundPort,
    stop: async () => {
      await frontend.stop();
      await orders.stop();
      app.server.close();
      await authority.stop();
    },
  };
}
