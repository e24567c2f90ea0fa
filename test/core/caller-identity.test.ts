/**
 * A component that tells callers apart only by SVID (audit, keys, policy) has no caller to check when it
 * runs without the mesh: it must not then listen beyond loopback in production, where anyone on the
 * network could read the audit log or write keys' caller header.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { auditComponent } from '../../src/audit/index.ts';
import {
  buildConfigSchema,
  type ComponentDefinition,
  ConfigError,
  loadConfig,
  MemoryAuditSink,
  runComponent,
} from '../../src/core/index.ts';
import { keysComponent } from '../../src/keys/index.ts';
import { policyComponent } from '../../src/policy/index.ts';

const config = (host: string) =>
  loadConfig(buildConfigSchema([]), {
    env: {
      BULWARK_HOME: mkdtempSync(join(tmpdir(), 'bulwark-callers-')),
      BULWARK_MODE: 'production',
      BULWARK_SERVER__HOST: host,
      BULWARK_LOG__LEVEL: 'silent',
    },
  });

describe('components that need caller identity, run without the mesh', () => {
  for (const definition of [auditComponent, keysComponent, policyComponent] as ComponentDefinition[]) {
    it(`${definition.name} refuses a non-loopback listener in production`, async () => {
      await assert.rejects(
        runComponent(definition, config('192.0.2.10'), { port: 0, audit: new MemoryAuditSink() }),
        (err: unknown) =>
          err instanceof ConfigError &&
          /cannot tell its callers apart/.test(err.message) &&
          /server\.host/.test(err.message),
      );
    });
  }

  it('still runs on loopback', async () => {
    const running = await runComponent(policyComponent, config('127.0.0.1'), {
      port: 0,
      audit: new MemoryAuditSink(),
    });
    await running.stop();
  });
});
