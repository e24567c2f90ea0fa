/**
 * testssl.sh against the sidecar's inbound mTLS port and the authority's HTTPS port (opt-in, ~2 min:
 * `flock /tmp/bulwark-bench.lock node_modules/.bin/node bench/mesh/tls-scan.bench.ts`). It fails when any
 * protocol, cipher, key-size or vulnerability finding is worse than OK/INFO. Certificate findings that
 * follow from SPIFFE by design (no DNS name, private root unknown to testssl, 1 h lifetime, revocation
 * by feed rather than CRL/OCSP) are listed but accepted.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startBenchMesh } from './mesh-harness.ts';

const run = promisify(execFile);
/** Findings about the certificate's trust and lifetime that a private SPIFFE PKI has on purpose. */
const ACCEPTED = new Set([
  'cert_trust',
  'cert_chain_of_trust',
  'cert_expirationStatus',
  'cert_notAfter',
  'cert_revocation',
  'DNS_CAArecord',
  'cert_commonName',
  'cert_subjectAltName',
]);

interface Finding {
  id: string;
  severity: string;
  finding: string;
}

async function scan(target: string): Promise<Finding[]> {
  const out = join(mkdtempSync(join(tmpdir(), 'testssl-')), 'scan.json');
  try {
    await run(
      'testssl',
      [
        '--quiet',
        '--color',
        '0',
        '--warnings',
        'batch',
        '--jsonfile',
        out,
        '-p',
        '-s',
        '-f',
        '-S',
        '-P',
        '-U',
        target,
      ],
      {
        maxBuffer: 64 * 1024 * 1024,
        timeout: 600_000,
      },
    );
  } catch (err) {
    // testssl exits non-zero when it has findings; the JSON file is what counts.
    if (!(err as { code?: unknown }).code) throw err;
  }
  return JSON.parse(readFileSync(out, 'utf8')) as Finding[];
}

const mesh = await startBenchMesh();
let failed = false;
try {
  const targets = {
    'sidecar (mTLS)': `127.0.0.1:${mesh.inboundPort}`,
    'authority (HTTPS)': new URL(mesh.authority.url).host,
  };
  for (const [name, target] of Object.entries(targets)) {
    const started = Date.now();
    const findings = await scan(target);
    // WARN and DEBUG are the scanner's own notes (e.g. "couldn't determine service"), not findings.
    const bad = findings.filter((f) => ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'].includes(f.severity));
    const rejected = bad.filter((f) => !ACCEPTED.has(f.id));
    console.log(
      `\n${name} ${target}: ${findings.length} findings in ${Math.round((Date.now() - started) / 1000)} s`,
    );
    for (const f of findings.filter((f) =>
      /^(SSLv|TLS1|cipher_order|FS$|cert_keySize|cert_signatureAlgorithm)/.test(f.id),
    )) {
      console.log(`  ${f.severity.padEnd(8)} ${f.id.padEnd(28)} ${f.finding}`);
    }
    for (const f of bad)
      console.log(`  ${ACCEPTED.has(f.id) ? 'accepted' : 'REJECTED'} ${f.severity} ${f.id}: ${f.finding}`);
    if (rejected.length > 0) failed = true;
  }
} finally {
  await mesh.stop();
}
console.log(
  failed
    ? '\nFAIL: weak protocol, cipher, key size or vulnerability found'
    : '\nPASS: no weak protocol, cipher or key size',
);
process.exitCode = failed ? 1 : 0;
