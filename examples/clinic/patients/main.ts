/** `node examples/clinic/patients/main.ts`: the patients service as a process (settings in the README). */
import { readFileSync } from 'node:fs';
import { auditFromEnv, meshFromEnv } from '../shared/mesh-env.ts';
import { env, gatewayJwksFromEnv, optionalEnv, runUntilStopped } from '../shared/process.ts';
import { type PatientSeed, startPatients } from './service.ts';

const seedFile = optionalEnv('CLINIC_SEED_FILE');
const keysUrl = optionalEnv('KEYS_URL');
const dataDir = env('CLINIC_DATA_DIR', 'the directory of patients.db');
const audit = auditFromEnv('patients', dataDir);
await runUntilStopped(
  'patients',
  () =>
    startPatients({
      ...meshFromEnv(),
      dataDir,
      gatewayJwks: gatewayJwksFromEnv(),
      ...(audit ? { audit } : {}),
      ...(keysUrl ? { keysUrl } : {}),
      ...(seedFile ? { seed: JSON.parse(readFileSync(seedFile, 'utf8')) as PatientSeed[] } : {}),
    }),
  audit,
);
