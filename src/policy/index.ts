/**
 * `policy`: Cedar policies and schema, versioned bundles served with ETag to the gateways and sidecars
 * (which decide in-process with the embedded engine in `src/core/policy-engine`), a decision API, policy
 * tests and analysis. See docs/policy.md.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { ComponentDefinition } from '../core/index.ts';
import { DecisionLog, PolicyEngine } from '../core/policy-engine/index.ts';
import { POLICY_CONFIG } from './config.ts';
import { POLICY_ERRORS } from './errors.ts';
import { PolicyService } from './policy-service.ts';
import { PolicyStore } from './policy-store.ts';
import { policyRoutes } from './routes.ts';

export {
  type AnalysisRow,
  DEFAULT_ANALYSIS_CONTEXT,
  type DiffRow,
  diffBundles,
  schemaActions,
  whatCan,
  whoCan,
} from './analysis.ts';
export { POLICY_CONFIG } from './config.ts';
export { ENTITIES_FILE, findFiles, readBundleDirectory, SCHEMA_FILE } from './directory-source.ts';
export { POLICY_ERRORS, policyError } from './errors.ts';
export { API_PREFIX, PolicyService } from './policy-service.ts';
export { POLICY_MIGRATIONS, PolicyStore } from './policy-store.ts';
export {
  formatTestRun,
  type PolicyTestCase,
  type PolicyTestResult,
  type PolicyTestRun,
  runPolicyTests,
} from './policy-tests.ts';
export { etagMatches, policyRoutes } from './routes.ts';

export interface PolicySection {
  directory: string | null;
  reloadIntervalMs: number;
  cacheSize: number;
  decisionLog: { allowSampleRate: number };
  admins: string[];
}

/**
 * @example
 * const running = await runComponent(policyComponent, config); // https://127.0.0.1:7302/v1/bundle
 */
export const policyComponent: ComponentDefinition = {
  name: 'policy',
  description:
    'Cedar policies and schema, versioned bundles for gateways and sidecars, decisions and analysis',
  defaultPort: 7302,
  // Readers, ACLs and admins are SPIFFE IDs: without the mesh there is no caller to check.
  callersFromMesh: true,
  errors: POLICY_ERRORS,
  configProperties: POLICY_CONFIG,
  async create(context) {
    const section = context.section as unknown as PolicySection & { port: number };
    const directory = section.directory ?? defaultDirectory(context.config.home);
    const engine = new PolicyEngine({
      cacheSize: section.cacheSize ?? 10000,
      decisionLog: new DecisionLog({
        sink: context.audit,
        allowSampleRate: section.decisionLog?.allowSampleRate ?? 1,
        component: 'policy',
      }),
    });
    const db = context.openStore();
    const service = new PolicyService({
      store: new PolicyStore(db),
      engine,
      directory,
      clock: context.clock,
      logger: context.logger,
      audit: context.audit,
    });
    try {
      await service.start();
    } catch (err) {
      // A bad directory at start leaves the stored version (if any) serving; storage errors are fatal.
      if ((err as { code?: string }).code !== 'policy_bundle_invalid') {
        await db.close();
        throw err;
      }
    }
    const interval = section.reloadIntervalMs ?? 5000;
    const timer =
      interval > 0
        ? setInterval(() => {
            service
              .sync()
              .then(() => service.reload())
              .catch(() => undefined);
          }, interval)
        : undefined;
    timer?.unref();
    return {
      routes: policyRoutes(service, engine, { admins: section.admins ?? [] }),
      readiness: { bundle: () => engine.bundle !== undefined },
      close: async () => {
        if (timer) clearInterval(timer);
        await db.close();
      },
    };
  },
};

function defaultDirectory(home: string): string | null {
  const dir = join(home, 'policies');
  try {
    return statSync(dir).isDirectory() ? dir : null;
  } catch {
    return null;
  }
}
