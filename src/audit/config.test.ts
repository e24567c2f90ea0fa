import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditSettings } from './config.ts';

const section = (keys: Record<string, unknown>) => ({ enabled: true, port: 0, ...keys });

describe('audit settings', () => {
  it('adds configured retention categories to the regulatory defaults instead of replacing them', () => {
    // An operator who only adds a category must not cut SOX (7 years) and HIPAA (6 years) to one year.
    const days = auditSettings(section({ retentionDays: { security: 730 } })).retentionDays;
    assert.deepEqual(days, { financial: 2555, health: 2190, default: 365, security: 730 });
    // Naming a default category still changes it.
    assert.equal(
      auditSettings(section({ retentionDays: { financial: 3650 } })).retentionDays['financial'],
      3650,
    );
    assert.equal(auditSettings(section({})).retentionDays['health'], 2190);
  });
});
