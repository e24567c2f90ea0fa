/**
 * `node examples/clinic/billing/main.ts`: billing as a process. It knows nothing of Bulwark; run it behind
 * `bulwark sidecar --app-port $CLINIC_PORT --outbound keys=... --outbound patients=...` (see the README).
 */
import { env, gatewayJwksFromEnv, optionalEnv, portEnv, runUntilStopped } from '../shared/process.ts';
import { startBilling } from './service.ts';

const patientsUrl = optionalEnv('BILLING_PATIENTS_URL');
const gatewayPeer = optionalEnv('CLINIC_GATEWAY_PEER');
const peerHeader = optionalEnv('BILLING_PEER_HEADER');
await runUntilStopped('billing', () =>
  startBilling({
    dataDir: env('CLINIC_DATA_DIR', 'the directory of billing.db'),
    port: portEnv('CLINIC_PORT', 8080),
    keysUrl: env('BILLING_KEYS_URL', "the sidecar's outbound port for keys, e.g. http://127.0.0.1:15002"),
    gatewayJwks: gatewayJwksFromEnv(),
    ...(patientsUrl ? { patientsUrl } : {}),
    ...(gatewayPeer ? { gatewayPeer } : {}),
    ...(peerHeader ? { peerHeader } : {}),
  }),
);
