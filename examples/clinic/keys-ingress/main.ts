/** `node examples/clinic/keys-ingress/main.ts`: the mesh entry of `keys` as a process (see the README). */
import { readFileSync } from 'node:fs';
import { meshFromEnv } from '../shared/mesh-env.ts';
import { env, runUntilStopped } from '../shared/process.ts';
import { startKeysIngress } from './service.ts';

await runUntilStopped('keys-ingress', () =>
  startKeysIngress({
    ...meshFromEnv(),
    keysUrl: env('KEYS_URL', "the keys component's URL, e.g. https://127.0.0.1:7303"),
    keysCa: readFileSync(env('KEYS_CA_FILE', 'the CA keys serves under, e.g. <home>/tls/ca.crt'), 'utf8'),
  }),
);
