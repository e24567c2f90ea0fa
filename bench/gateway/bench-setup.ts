/** The chain the gateway load run measures: one route with every check on, shared by the workers and the stage profile. */
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { type AuditEvent, type AuditSink, createLogger } from '../../src/core/index.ts';
import { Gateway } from '../../src/gateway/index.ts';
import type { RouteDocument } from '../../src/gateway/routes/route-file.ts';

export interface BenchEnv {
  issuer: string;
  caFile: string;
  upstream: string;
}

export const BENCH_POLICY = `@id("clerks-read-bench")
permit (principal in Bulwark::Role::"clerk", action == Bulwark::Action::"read", resource == Bulwark::Route::"bench");`;

/** Counts events instead of keeping them (a long run would otherwise grow without bound). */
export class CountingAuditSink implements AuditSink {
  count = 0;
  record(_event: AuditEvent): void {
    this.count++;
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/** One route with every check on, and the same proxying with none (the chain's cost is the difference). */
export const BENCH_ROUTES = (upstream: string): RouteDocument => ({
  format_version: '1',
  services: [{ name: 'bench', targets: [upstream], connections: 64 }],
  routes: [
    {
      name: 'bench',
      service: 'bench',
      paths: ['/bench'],
      methods: ['GET'],
      auth: { audience: 'bench' },
      authorize: { tenant: 'acme' },
      rateLimits: [{ by: 'ip', points: 100_000_000, durationSeconds: 60 }],
    },
    { name: 'bare', service: 'bench', paths: ['/bare'], methods: ['GET'], auth: { required: false } },
  ],
});

export function benchGateway(env: BenchEnv, timeStages = false): Gateway {
  return new Gateway({
    routes: BENCH_ROUTES(env.upstream),
    issuers: [
      {
        issuer: env.issuer,
        audiences: ['bench'],
        algorithms: ['ES256'],
        typ: 'at+jwt',
        clockSkewSeconds: 30,
        rolesClaim: 'roles',
        tenantClaim: 'tenant',
      },
    ],
    jwksDispatcher: new Agent({ connect: { ca: readFileSync(env.caFile, 'utf8') } }),
    policies: [{ file: 'bench.cedar', text: BENCH_POLICY }],
    logger: createLogger({ level: 'silent', component: 'gateway', redactKeys: [] }),
    audit: new CountingAuditSink(),
    auditAllowSampleRate: 0.01,
    timeStages,
  });
}
