/**
 * `bulwark audit ...`: verify the whole log, write a record's proof bundle, check a bundle offline, export.
 * Commands that talk to the running service find it in `<home>/run/state.json` (or take `--url`) and trust
 * `<home>/tls/ca.crt`; the log key is pinned from `<home>/audit/log.vkey` or `--key`.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { Agent, request } from 'undici';
import {
  httpLogSource,
  type LogReport,
  parseVerifierKey,
  VerificationError,
  verifyLog,
  verifyProofBundle,
} from '../../audit/index.ts';
import { readOwnFile } from '../../audit/log/anchors.ts';
import { configFile, loadPlatformConfig } from '../config-file.ts';
import { withOperatorCertificate } from '../operator-identity.ts';
import { readState } from '../runtime-state.ts';

export interface AuditTarget {
  url: string;
  ca?: string;
  vkey: string;
  anchors: string[];
}

interface TargetOptions {
  url?: string;
  ca?: string;
  key?: string;
  anchors?: string;
  home?: string;
}

/** Works out where the audit service is and which key and anchors to trust. */
export function resolveTarget(o: TargetOptions, home: string): AuditTarget {
  const state = readState(home);
  const url = o.url ?? state?.components.find((c) => c.name === 'audit')?.url ?? undefined;
  if (!url) throw new Error('the audit service is not running here; start it or pass --url');
  const caFile = o.ca ?? state?.caFile ?? join(home, 'tls', 'ca.crt');
  const keyFile = o.key ?? join(home, 'audit', 'log.vkey');
  if (!existsSync(keyFile))
    throw new Error(`no log key at ${keyFile}; pass --key with the log's verifier key file`);
  const anchorDir = o.anchors ?? join(home, 'audit', 'anchor');
  const anchors = existsSync(anchorDir)
    ? readdirSync(anchorDir)
        .filter((f) => f.startsWith('checkpoint-'))
        .flatMap((f) => readOwnFile(join(anchorDir, f)) ?? [])
    : [];
  return {
    url,
    ...(existsSync(caFile) ? { ca: readFileSync(caFile, 'utf8') } : {}),
    vkey: readFileSync(keyFile, 'utf8'),
    anchors,
  };
}

/** Verifies the whole log; writes progress and the verdict; returns the report. */
export async function auditVerify(
  target: AuditTarget,
  out: NodeJS.WritableStream,
  progress = true,
): Promise<LogReport> {
  const source = httpLogSource(target.url, withOperatorCertificate(target.ca ? { ca: target.ca } : {}));
  const started = Date.now();
  try {
    const report = await verifyLog(source, {
      logKey: parseVerifierKey(target.vkey),
      anchors: target.anchors,
      onProgress: progress
        ? (done, total) => out.write(`\rverified ${done}/${total} records`)
        : () => undefined,
    });
    if (progress) out.write('\n');
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (report.ok) {
      out.write(
        `OK: ${report.size} records (from index ${report.minIndex}), ${report.checkpointsVerified} checkpoints verified in ${seconds}s; ${report.unsignedTail} records after the last checkpoint\n`,
      );
    } else {
      const f = report.failure!;
      out.write(`FAILED (${f.code}) at index ${f.index ?? '?'}: ${f.message}\n`);
    }
    return report;
  } finally {
    await source.close();
  }
}

/** Fetches the tlog-proof bundle of one record. */
export async function auditProve(target: AuditTarget, id: string): Promise<string> {
  const dispatcher = new Agent({ connect: withOperatorCertificate(target.ca ? { ca: target.ca } : {}) });
  try {
    const res = await request(`${target.url}/audit/v1/records/${encodeURIComponent(id)}/proof`, {
      dispatcher,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`audit service answered ${res.statusCode}: ${text}`);
    // Check before handing it out: a bundle that does not verify against the pinned key is not written,
    // nor one that proves another record (a valid proof of some record is easy for a lying server).
    const proven = verifyProofBundle(text, parseVerifierKey(target.vkey));
    let leaf: { id?: unknown; index?: unknown } | undefined;
    try {
      leaf = JSON.parse(proven.leaf.toString('utf8')) as { id?: unknown; index?: unknown };
    } catch {
      leaf = undefined;
    }
    if (leaf?.id !== id || leaf.index !== proven.index) {
      throw new VerificationError(
        'record_mismatch',
        `the audit service's proof is not for record ${JSON.stringify(id)} at its index`,
        proven.index,
      );
    }
    return text;
  } finally {
    await dispatcher.close();
  }
}

export function registerAuditCommands(program: Command): void {
  const home = () => loadPlatformConfig(configFile(program.opts<{ config?: string }>().config)).home;
  const audit = program.command('audit').description('verify, prove and export the tamper-evident audit log');
  const common = (c: Command) =>
    c
      .option('--url <url>', 'audit service URL (default: from `bulwark up` state)')
      .option('--ca <file>', 'CA certificate to trust (default: <home>/tls/ca.crt)')
      .option('--key <file>', "the log's verifier key (default: <home>/audit/log.vkey)")
      .option('--anchors <dir>', 'directory of trusted checkpoints (default: <home>/audit/anchor)');

  common(audit.command('verify'))
    .description(
      're-check every record, the tree, every checkpoint signature and consistency; names the first bad index',
    )
    .option('--json', 'print the report as JSON')
    .action(async (o: TargetOptions & { json?: boolean }) => {
      const report = await auditVerify(
        resolveTarget(o, home()),
        o.json ? process.stderr : process.stdout,
        process.stderr.isTTY === true || !o.json,
      );
      if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      process.exitCode = report.ok ? 0 : 2;
    });

  common(audit.command('prove'))
    .description('write the C2SP tlog-proof bundle of one record')
    .argument('<id>', 'record id')
    .option('-o, --out <file>', 'file to write (default: <id>.tlog-proof)')
    .action(async (id: string, o: TargetOptions & { out?: string }) => {
      const text = await auditProve(resolveTarget(o, home()), id);
      const file = o.out ?? `${id.replace(/[^A-Za-z0-9._-]/g, '_')}.tlog-proof`;
      writeFileSync(file, text);
      process.stdout.write(`wrote ${file}\n`);
    });

  audit
    .command('check-proof')
    .description('verify a tlog-proof bundle offline against the log key')
    .argument('<file>', 'the .tlog-proof file')
    .requiredOption('--key <file>', "the log's verifier key")
    .action((file: string, o: { key: string }) => {
      const ok = verifyProofBundle(readFileSync(file, 'utf8'), parseVerifierKey(readFileSync(o.key, 'utf8')));
      process.stdout.write(
        `OK: record at index ${ok.index} is in the log ${ok.checkpoint.origin} of size ${ok.checkpoint.size}\n`,
      );
    });
}
