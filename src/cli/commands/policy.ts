/**
 * `bulwark policy ...`: work on policy directories offline (validate, test, analyse, diff, start from a
 * template). Each command is a function over an output stream returning the exit code, so tests call it
 * directly; {@link registerPolicyCommands} wires them into the CLI.
 */
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from '@cedar-policy/cedar-wasm/nodejs';
import type { Command } from 'commander';
import {
  actionRef,
  type BundleIssue,
  type CompiledBundle,
  compileBundle,
  formatIssue,
  parseEntityRef,
} from '../../core/policy-engine/index.ts';
import {
  type AnalysisRow,
  DEFAULT_ANALYSIS_CONTEXT,
  diffBundles,
  formatTestRun,
  readBundleDirectory,
  runPolicyTests,
  whatCan,
  whoCan,
} from '../../policy/index.ts';

type Out = NodeJS.WritableStream;
const TEMPLATES = new URL('../../policy/templates/', import.meta.url);

/** Runs `work`; a bundle with problems prints each as `file:line:col: problem` and exits 1. */
function guarded(out: Out, work: () => number): number {
  try {
    return work();
  } catch (err) {
    if (err instanceof TypeError || err instanceof SyntaxError) {
      out.write(`error: ${err.message}\n`);
      return 1;
    }
    const e = err as { code?: string; message?: string; details?: { issues?: BundleIssue[] } };
    if (typeof e.code !== 'string' || !e.code.startsWith('policy_')) throw err;
    out.write(`error ${e.code}: ${e.message}\n`);
    for (const issue of e.details?.issues ?? []) out.write(`  ✗ ${formatIssue(issue)}\n`);
    return 1;
  }
}

const load = (dir: string): CompiledBundle => compileBundle(readBundleDirectory(dir));

export function policyValidate(dir: string, out: Out): number {
  return guarded(out, () => {
    const bundle = load(dir);
    out.write(
      `${dir}: valid, ${bundle.policies.length} policies, ${bundle.entities.length} entities (${bundle.hash})\n`,
    );
    for (const w of bundle.warnings) out.write(`  ! ${formatIssue(w)}\n`);
    return 0;
  });
}

/** `bulwark policy test DIR`: exit 1 when any decision differs from the expected one. */
export function policyTest(dir: string, out: Out, json = false): number {
  return guarded(out, () => {
    const run = runPolicyTests(dir);
    if (json)
      out.write(
        `${JSON.stringify({ passed: run.passed, failed: run.failed, results: run.results }, null, 2)}\n`,
      );
    else out.write(formatTestRun(run));
    if (run.results.length === 0) {
      out.write(`no *.test.yaml files under ${dir}\n`);
      return 1;
    }
    return run.failed === 0 ? 0 : 1;
  });
}

function printRows(out: Out, rows: readonly AnalysisRow[], json: boolean, empty: string): void {
  if (json) {
    out.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) out.write(`${empty}\n`);
  for (const r of rows)
    out.write(`  ${r.principal}  ${r.action}  ${r.resource}  (by ${r.policies.join(', ')})\n`);
}

export interface AnalysisOptions {
  dir: string;
  context?: string;
  json?: boolean;
}

function contextOf(text: string | undefined): Context {
  return text ? { ...DEFAULT_ANALYSIS_CONTEXT, ...(JSON.parse(text) as Context) } : DEFAULT_ANALYSIS_CONTEXT;
}

export function policyWhoCan(action: string, resource: string, options: AnalysisOptions, out: Out): number {
  return guarded(out, () => {
    const rows = whoCan(
      load(options.dir),
      actionRef(action),
      parseEntityRef(resource),
      contextOf(options.context),
    );
    printRows(out, rows, options.json ?? false, `no known principal can ${action} ${resource}`);
    return 0;
  });
}

export function policyWhatCan(principal: string, options: AnalysisOptions, out: Out): number {
  return guarded(out, () => {
    const rows = whatCan(load(options.dir), parseEntityRef(principal), contextOf(options.context));
    printRows(out, rows, options.json ?? false, `${principal} can do nothing on the known resources`);
    return 0;
  });
}

/** `bulwark policy diff OLD NEW`: exit 0 when no decision changes, 2 when some do (so CI can gate on it). */
export function policyDiff(
  oldDir: string,
  newDir: string,
  options: Omit<AnalysisOptions, 'dir'>,
  out: Out,
): number {
  return guarded(out, () => {
    const rows = diffBundles(load(oldDir), load(newDir), contextOf(options.context));
    if (options.json) out.write(`${JSON.stringify(rows, null, 2)}\n`);
    else if (rows.length === 0) out.write('no decision changes\n');
    else {
      for (const r of rows) {
        const by = r.after === 'allow' ? r.afterPolicies : r.beforePolicies;
        out.write(
          `  ${r.before} -> ${r.after}  ${r.principal}  ${r.action}  ${r.resource}  (${by.join(', ') || 'default deny'})\n`,
        );
      }
      out.write(`${rows.length} request${rows.length === 1 ? '' : 's'} change decision\n`);
    }
    return rows.length === 0 ? 0 : 2;
  });
}

export function policyTemplates(out: Out): number {
  for (const name of readdirSync(TEMPLATES).sort()) out.write(`  ${name}\n`);
  return 0;
}

export function policyInit(dir: string, template: string, out: Out): number {
  const from = new URL(`${template}/`, TEMPLATES);
  if (!/^[a-z0-9-]+$/.test(template) || !existsSync(from)) {
    out.write(`no template ${template}; see \`bulwark policy templates\`\n`);
    return 1;
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    out.write(`${dir} is not empty; choose a new directory\n`);
    return 1;
  }
  cpSync(from, dir, { recursive: true });
  out.write(`created ${join(dir)} from template ${template}; run \`bulwark policy test ${dir}\`\n`);
  return 0;
}

/**
 * Adds `bulwark policy validate|test|who-can|what-can|diff|templates|init`.
 *
 * @example
 * registerPolicyCommands(program); // in src/cli/main.ts
 */
export function registerPolicyCommands(program: Command): void {
  const policy = program
    .command('policy')
    .description('Cedar policies: validate, test, analyse and diff policy directories');
  const exit = (code: number) => {
    process.exitCode = code;
  };
  policy
    .command('validate')
    .description('check a policy directory (syntax, schema) and print every problem as file:line:col')
    .argument('<dir>', 'policy directory')
    .action((dir: string) => exit(policyValidate(dir, process.stdout)));
  policy
    .command('test')
    .description('run the *.test.yaml policy tests of a directory; exits 1 when a decision differs')
    .argument('<dir>', 'policy directory')
    .option('--json', 'print JSON for scripts')
    .action((dir: string, o: { json?: boolean }) => exit(policyTest(dir, process.stdout, o.json)));
  policy
    .command('who-can')
    .description(
      'list the known principals allowed to do ACTION on RESOURCE (e.g. read \'Route::"orders.list"\')',
    )
    .argument('<action>', 'action id, e.g. read')
    .argument('<resource>', 'entity, e.g. Route::"orders.list"')
    .option('-d, --dir <dir>', 'policy directory', 'policies')
    .option('--context <json>', 'request context (JSON) merged over the default one')
    .option('--json', 'print JSON for scripts')
    .action((action: string, resource: string, o: AnalysisOptions) =>
      exit(policyWhoCan(action, resource, o, process.stdout)),
    );
  policy
    .command('what-can')
    .description('list what PRINCIPAL may do on the known resources')
    .argument('<principal>', 'entity, e.g. User::"alice"')
    .option('-d, --dir <dir>', 'policy directory', 'policies')
    .option('--context <json>', 'request context (JSON) merged over the default one')
    .option('--json', 'print JSON for scripts')
    .action((principal: string, o: AnalysisOptions) => exit(policyWhatCan(principal, o, process.stdout)));
  policy
    .command('diff')
    .description(
      'list the requests (known entities x actions) whose decision differs between two policy directories; exits 2 when any does',
    )
    .argument('<old>', 'policy directory before')
    .argument('<new>', 'policy directory after')
    .option('--context <json>', 'request context (JSON) merged over the default one')
    .option('--json', 'print JSON for scripts')
    .action((oldDir: string, newDir: string, o: Omit<AnalysisOptions, 'dir'>) =>
      exit(policyDiff(oldDir, newDir, o, process.stdout)),
    );
  policy
    .command('templates')
    .description('list the policy templates')
    .action(() => exit(policyTemplates(process.stdout)));
  policy
    .command('init')
    .description('start a policy directory from a template (with its entities and starter tests)')
    .argument('<dir>', 'new directory')
    .option('-t, --template <name>', 'template name', 'rbac-by-role')
    .action((dir: string, o: { template: string }) => exit(policyInit(dir, o.template, process.stdout)));
}
