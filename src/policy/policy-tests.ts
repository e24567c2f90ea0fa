/**
 * Policy tests: YAML files (`*.test.yaml`) of requests with the decision each must get, run against the
 * bundle of the directory they sit in. `bulwark policy test DIR` runs them and fails when a decision
 * differs, so a policy change that alters an expected outcome fails CI. Format (docs/policy.md):
 *
 *   context: { method: GET, path: /, sourceIp: 10.0.0.1, amr: [pwd], hour: 12, weekday: 3 }
 *   cases:
 *     - name: an editor may write in its own tenant
 *       principal: User::"alice"
 *       action: write
 *       resource: Route::"acme.orders.create"
 *       context: { method: POST }      # merged over the file's context
 *       entities: [ ...Cedar JSON ]    # optional, for this request only
 *       expect: allow
 *       policies: [editors-write]      # optional: the policies that must have decided
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context, EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import { parse } from 'yaml';
import {
  type CompiledBundle,
  type Decision,
  PolicyEngine,
  parseEntityRef,
} from '../core/policy-engine/index.ts';
import { DEFAULT_ANALYSIS_CONTEXT } from './analysis.ts';
import { findFiles, readBundleDirectory } from './directory-source.ts';
import { policyError } from './errors.ts';

export interface PolicyTestCase {
  name: string;
  principal: string;
  action: string;
  resource: string;
  context?: Context;
  entities?: EntityJson[];
  expect: 'allow' | 'deny';
  policies?: string[];
}

export interface PolicyTestResult {
  file: string;
  name: string;
  passed: boolean;
  expected: 'allow' | 'deny';
  actual: Decision;
  /** Why it failed, for people. */
  message?: string;
}

export interface PolicyTestRun {
  bundle: CompiledBundle;
  results: PolicyTestResult[];
  passed: number;
  failed: number;
}

/**
 * Compiles the directory's bundle and runs every `*.test.yaml` below it.
 *
 * @example
 * const run = runPolicyTests('policies');
 * process.exitCode = run.failed === 0 ? 0 : 1;
 */
export function runPolicyTests(dir: string): PolicyTestRun {
  const engine = new PolicyEngine({ cacheSize: 0 });
  const bundle = engine.load(readBundleDirectory(dir));
  const results: PolicyTestResult[] = [];
  for (const file of findFiles(dir, '.test.yaml')) {
    results.push(...runFile(engine, file, readFileSync(join(dir, file), 'utf8')));
  }
  const failed = results.filter((r) => !r.passed).length;
  return { bundle, results, passed: results.length - failed, failed };
}

function runFile(engine: PolicyEngine, file: string, text: string): PolicyTestResult[] {
  const doc = parse(text) as { context?: Context; entities?: EntityJson[]; cases?: unknown } | null;
  if (!doc || !Array.isArray(doc.cases))
    throw policyError('policy_test_invalid', `${file}: expected a \`cases:\` list`);
  const baseContext = { ...DEFAULT_ANALYSIS_CONTEXT, ...(doc.context ?? {}) };
  return doc.cases.map((raw, index) => {
    const c = checkCase(file, index, raw);
    const entities = [...(doc.entities ?? []), ...(c.entities ?? [])];
    const actual = engine.decide({
      principal: parseEntityRef(c.principal),
      action: c.action,
      resource: parseEntityRef(c.resource),
      context: { ...baseContext, ...(c.context ?? {}) },
      ...(entities.length > 0 ? { entities } : {}),
    });
    let message: string | undefined;
    if (actual.decision !== c.expect) {
      message = `expected ${c.expect}, got ${actual.decision}${actual.policies.length ? ` by ${actual.policies.join(', ')}` : ''}${actual.errors.length ? ` (errors: ${actual.errors.map((e) => e.message).join('; ')})` : ''}`;
    } else if (c.policies && [...c.policies].sort().join(',') !== [...actual.policies].sort().join(',')) {
      message = `decided by [${actual.policies.join(', ')}], expected [${c.policies.join(', ')}]`;
    }
    return {
      file,
      name: c.name,
      passed: message === undefined,
      expected: c.expect,
      actual,
      ...(message ? { message } : {}),
    };
  });
}

function checkCase(file: string, index: number, raw: unknown): PolicyTestCase {
  const c = raw as Partial<PolicyTestCase> | null;
  const where = `${file}: case ${index + 1}`;
  const bad = (what: string) => policyError('policy_test_invalid', `${where}: ${what}`);
  if (!c || typeof c !== 'object') throw bad('expected a mapping');
  for (const key of ['principal', 'action', 'resource'] as const) {
    if (typeof c[key] !== 'string') throw bad(`\`${key}\` must be a string like User::"alice"`);
  }
  if (c.expect !== 'allow' && c.expect !== 'deny') throw bad('`expect` must be allow or deny');
  try {
    parseEntityRef(c.principal as string);
    parseEntityRef(c.resource as string);
  } catch (err) {
    throw bad((err as Error).message);
  }
  return { ...c, name: c.name ?? `${c.principal} ${c.action} ${c.resource}` } as PolicyTestCase;
}

/** Human report: one line per case, failures with the reason, and a summary. */
export function formatTestRun(run: PolicyTestRun): string {
  const lines = run.results.map((r) =>
    r.passed ? `  ✓ ${r.file}: ${r.name}` : `  ✗ ${r.file}: ${r.name}\n      ${r.message}`,
  );
  lines.push(
    `${run.passed} passed, ${run.failed} failed (bundle ${run.bundle.hash.slice(0, 19)}, ${run.bundle.policies.length} policies)`,
  );
  return `${lines.join('\n')}\n`;
}
