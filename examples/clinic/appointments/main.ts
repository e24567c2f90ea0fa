/** `node examples/clinic/appointments/main.ts`: the appointments service as a process (see the README). */
import { auditFromEnv, meshFromEnv } from '../shared/mesh-env.ts';
import { env, gatewayJwksFromEnv, runUntilStopped } from '../shared/process.ts';
import { startAppointments } from './service.ts';

const dataDir = env('CLINIC_DATA_DIR', 'the directory of appointments.db');
const audit = auditFromEnv('appointments', dataDir);
await runUntilStopped(
  'appointments',
  () =>
    startAppointments({
      ...meshFromEnv(),
      dataDir,
      gatewayJwks: gatewayJwksFromEnv(),
      ...(audit ? { audit } : {}),
    }),
  audit,
);
