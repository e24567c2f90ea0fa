/**
 * Searches the running platform's audit log as the operator, for the tour and the end-to-end suite.
 * `audit` serves only mutual TLS, so plain curl gets `401 mesh_peer_unauthenticated`; this presents the
 * operator's SVID the way the CLI does (src/cli/operator-identity.ts: whoever can read authority's admin
 * token is the operator).
 *
 * As a script: `node examples/clinic/audit-search.ts action=clinic.patients.read outcome=failure`
 * (any of the search parameters of `GET /audit/v1/records`, docs/audit.md) prints one JSON line per record.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Agent, request } from 'undici';
import { prepareOperatorIdentity, withOperatorCertificate } from '../../src/cli/operator-identity.ts';
import { readState } from '../../src/cli/runtime-state.ts';

/** The fields of a stored audit record that the tour and the suite read. */
export interface AuditRecord {
  id: string;
  time: string;
  action: string;
  outcome: string;
  reason?: string;
  actor: { type: string; id: string };
  target?: { type: string; id: string };
  source?: { component?: string };
  details?: Record<string, unknown>;
}

export interface AuditSearch {
  /** One page of `GET /audit/v1/records` with these parameters (all pages: follows `after`). */
  records(params: Record<string, string>): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

/** An operator's client of the platform's audit component, found in `<home>/run/state.json`. */
export async function auditSearch(home: string): Promise<AuditSearch> {
  const url = readState(home)?.components.find((c) => c.name === 'audit')?.url;
  if (!url) throw new Error(`no running audit component in ${home}`);
  await prepareOperatorIdentity(home);
  const dispatcher = new Agent({
    connect: withOperatorCertificate({ ca: readFileSync(join(home, 'tls', 'ca.crt'), 'utf8') }),
  });
  return {
    async records(params) {
      const out: AuditRecord[] = [];
      let after: number | undefined;
      for (let page = 0; page < 50; page++) {
        const query = new URLSearchParams({
          ...params,
          limit: '500',
          ...(after === undefined ? {} : { after: String(after) }),
        });
        const res = await request(`${url}/audit/v1/records?${query}`, { dispatcher });
        const body = (await res.body.json()) as { records?: AuditRecord[]; next?: number | null };
        if (res.statusCode !== 200) throw new Error(`audit answered ${res.statusCode}`);
        out.push(...(body.records ?? []));
        if (!body.next) break;
        after = body.next;
      }
      return out;
    },
    close: () => dispatcher.close(),
  };
}

async function main(argv: string[]): Promise<void> {
  const params = Object.fromEntries(
    argv.map((a) => {
      const eq = a.indexOf('=');
      return eq < 0 ? [a, ''] : [a.slice(0, eq), a.slice(eq + 1)];
    }),
  );
  const search = await auditSearch(resolve(process.env['BULWARK_HOME'] ?? '.bulwark'));
  try {
    for (const r of await search.records(params)) process.stdout.write(`${JSON.stringify(r)}\n`);
  } finally {
    await search.close();
  }
}

if (import.meta.main) await main(process.argv.slice(2));
