/**
 * What `bulwark up --demo` adds to the platform: the clinic example (examples/clinic) as supervised
 * processes after the components, seeded through the platform's own APIs as the operator. The clinic
 * module says what to run and seed; this one fits it into the supervisor.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { parse, stringify } from 'yaml';
import {
  type DemoCredentials,
  demoConfig,
  demoProcesses,
  demoSummary,
  seedDemo,
} from '../../examples/clinic/demo.ts';
import { JOIN_TOKEN_ENV } from '../core/index.ts';
import { prepareOperatorIdentity, withOperatorCertificate } from './operator-identity.ts';
import type { ChildSpec } from './supervisor.ts';

/**
 * The clinic starts beside the platform's last stage (2: identity, policy, gateway), which it reaches only
 * when called; what needs the seed (patients) starts after it, in stage 3.
 */
const BESIDE_PLATFORM = 2;
export const DEMO_STAGE = 3;

/**
 * Writes `<home>/clinic/bulwark.yaml`: the operator's configuration file (if any) with the demo's gateway
 * settings merged over it. `up --demo` runs every component with this file.
 */
export function writeDemoConfig(home: string, userFile: string | undefined): string {
  const base = userFile ? ((parse(readFileSync(userFile, 'utf8')) as Record<string, unknown>) ?? {}) : {};
  const merged = deepMerge(base, demoConfig(home));
  mkdirSync(join(home, 'clinic'), { recursive: true, mode: 0o700 });
  // The gateway signs its identity assertions with this key; made once, so restarts keep it.
  const assertionKey = join(home, 'clinic', 'gateway-assertion.pem');
  if (!existsSync(assertionKey)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(assertionKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  const file = join(home, 'clinic', 'bulwark.yaml');
  writeFileSync(file, `# written by bulwark up --demo\n${stringify(merged)}`, { mode: 0o600 });
  return file;
}

export interface ClinicDemo {
  specs: ChildSpec[];
  beforeStage(stage: number): Promise<void>;
  summary(gatewayUrl: string, identityUrl: string): string;
}

export function clinicDemo(options: {
  home: string;
  caFile: string;
  entry: string;
  /** The URL of a started child by name. */
  urlOf(name: string): string | undefined;
  /** Where a component will listen by its configuration (for one that is still starting). */
  configuredUrl(name: string): string;
  mintJoinToken(service: string): Promise<string>;
}): ClinicDemo {
  const { home } = options;
  let credentials: DemoCredentials | undefined;
  const url = (name: string) => options.urlOf(name) ?? options.configuredUrl(name);
  const specs = demoProcesses(home, options.entry).map(
    (p): ChildSpec => ({
      name: p.name,
      module: p.module,
      args: p.args,
      stage: p.afterSeed ? DEMO_STAGE : BESIDE_PLATFORM,
      env: async () => ({
        ...process.env,
        BULWARK_HOME: home,
        // The services are forked directly (not through bin/bulwark.js): share its compile cache.
        NODE_COMPILE_CACHE: process.env['NODE_COMPILE_CACHE'] ?? join(tmpdir(), 'node-compile-cache'),
        ...p.env({
          authority: url('authority'),
          audit: url('audit'),
          keys: url('keys'),
          gatewayAdmin: url('gateway'),
        }),
        ...(p.joinAs ? { [JOIN_TOKEN_ENV]: await options.mintJoinToken(p.joinAs) } : {}),
      }),
    }),
  );
  return {
    specs,
    async beforeStage(stage) {
      if (stage !== DEMO_STAGE) return;
      await prepareOperatorIdentity(home);
      const dispatcher = new Agent({
        connect: withOperatorCertificate({ ca: readFileSync(options.caFile, 'utf8') }),
      });
      try {
        credentials = await seedDemo({
          home,
          identityUrl: url('identity'),
          keysUrl: url('keys'),
          dispatcher,
        });
      } finally {
        await dispatcher.close();
      }
    },
    summary(gatewayUrl, identityUrl) {
      return credentials ? demoSummary(credentials, gatewayUrl, identityUrl) : '';
    },
  };
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isObject(current) && isObject(value) ? deepMerge(current, value) : (value as unknown);
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
