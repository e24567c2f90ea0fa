/**
 * `bulwark keys ...`: key management and ops-side encryption over the `keys` API. The URL and CA come from
 * the running platform (`<home>/run/state.json`, `<home>/tls/ca.crt`) unless `--url`/`--ca` are given.
 * The caller identity (`--caller` or `KEYS_CALLER`) must be in `components.keys.admins` for management.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Agent } from 'undici';
import { KeysApiError, KeysClient } from '../../sdk/keys/index.ts';
import { configFile, loadPlatformConfig } from '../config-file.ts';
import { withOperatorCertificate } from '../operator-identity.ts';
import { readState } from '../runtime-state.ts';

interface ConnectionOptions {
  url?: string;
  ca?: string;
  caller?: string;
  json?: boolean;
}

const DEFAULT_CALLER = 'spiffe://bulwark.local/cli';

function connect(program: Command, options: ConnectionOptions): KeysClient {
  let url = options.url;
  let ca = options.ca ? readFileSync(options.ca) : undefined;
  if (!url) {
    const config = loadPlatformConfig(configFile(program.opts<{ config?: string }>().config));
    const state = readState(config.home);
    const keys = state?.components.find((c) => c.name === 'keys');
    if (!keys?.url)
      throw new KeysApiError('keys_unreachable', 503, 'keys is not running here; start it or pass --url');
    url = keys.url;
    if (!ca && state?.caFile) ca = readFileSync(state.caFile);
  }
  // Behind mTLS keys takes the caller from the operator's certificate and ignores the caller header.
  dispatcher = new Agent({ connect: withOperatorCertificate(ca ? { ca } : {}) });
  return new KeysClient({
    url,
    caller: options.caller ?? process.env['KEYS_CALLER'] ?? DEFAULT_CALLER,
    dispatcher,
  });
}

/** The connection pool of this command's client (closed with it). */
let dispatcher: Agent | undefined;

/** `k=v,k2=v2` -> { k: 'v', k2: 'v2' }. */
export function parseContext(text: string | undefined): Record<string, string> | undefined {
  if (!text) return undefined;
  return Object.fromEntries(
    text.split(',').map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) throw new KeysApiError('invalid_request', 400, `context entry ${pair} is not key=value`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

/** `encrypt=svc-a|svc-b,decrypt=svc-a` -> { encrypt: ['svc-a','svc-b'], decrypt: ['svc-a'] }. */
export function parseAcl(entries: string[] = []): Record<string, string[]> {
  const acl: Record<string, string[]> = {};
  for (const entry of entries) {
    const at = entry.indexOf('=');
    if (at < 1) throw new KeysApiError('invalid_request', 400, `--allow ${entry} is not operation=caller`);
    const operation = entry.slice(0, at);
    acl[operation] = [...(acl[operation] ?? []), entry.slice(at + 1)];
  }
  return acl;
}

function withConnection(command: Command): Command {
  return command
    .option('--url <url>', 'keys base URL (default: from the running platform)')
    .option('--ca <file>', 'CA certificate PEM (default: the platform CA)')
    .option(
      '--caller <id>',
      'caller identity sent in x-bulwark-caller (default: $KEYS_CALLER or spiffe://bulwark.local/cli)',
    )
    .option('--json', 'print JSON');
}

async function run(
  program: Command,
  options: ConnectionOptions,
  work: (c: KeysClient) => Promise<unknown>,
  human?: (out: never) => string,
) {
  const client = connect(program, options);
  try {
    const out = await work(client);
    process.stdout.write(options.json || !human ? `${JSON.stringify(out, null, 2)}\n` : human(out as never));
  } catch (err) {
    if (!(err instanceof KeysApiError)) throw err;
    process.stderr.write(`error ${err.code}: ${err.message}\n`);
    process.exitCode = 1;
  } finally {
    await client.close();
    await dispatcher?.close();
  }
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerKeysCommands(program: Command): void {
  const keys = program
    .command('keys')
    .description('named keys, rotation and encryption (the keys component)');
  const path = (name: string, op = '') => `/v1/keys/${encodeURIComponent(name)}${op}`;

  withConnection(keys.command('create').description('create a named key').argument('<name>'))
    .option('--type <type>', 'aes256-gcm | aes256-gcm-siv | hmac-sha256 | ed25519', 'aes256-gcm')
    .option('--rotation-period <ms>', 'rotate automatically after this many milliseconds', Number)
    .option('--max-uses <n>', 'encryptions per version before automatic rotation', Number)
    .option('--allow <op=caller>', 'allow a caller an operation (repeatable)', collect)
    .action(
      (
        name: string,
        o: ConnectionOptions & { type: string; rotationPeriod?: number; maxUses?: number; allow?: string[] },
      ) =>
        run(program, o, (c) =>
          c.call('POST', '/v1/keys', {
            name,
            type: o.type,
            ...(o.rotationPeriod ? { rotation_period_ms: o.rotationPeriod } : {}),
            ...(o.maxUses ? { max_uses_per_version: o.maxUses } : {}),
            acl: parseAcl(o.allow),
          }),
        ),
    );

  withConnection(keys.command('list').description('list named keys')).action((o: ConnectionOptions) =>
    run(
      program,
      o,
      (c) => c.call('GET', '/v1/keys'),
      (out: {
        keys: { name: string; type: string; latest_version: number; min_decryption_version: number }[];
      }) =>
        `${out.keys.map((k) => `${k.name.padEnd(24)} ${k.type.padEnd(15)} v${k.latest_version} (min decrypt v${k.min_decryption_version})`).join('\n')}\n`,
    ),
  );

  withConnection(
    keys.command('show').description('show a key, its versions and usage').argument('<name>'),
  ).action((name: string, o: ConnectionOptions) => run(program, o, (c) => c.call('GET', path(name))));

  withConnection(
    keys
      .command('rotate')
      .description('add a new version and encrypt with it from now on')
      .argument('<name>'),
  ).action((name: string, o: ConnectionOptions) =>
    run(program, o, (c) => c.call('POST', path(name, '/rotate'))),
  );

  withConnection(
    keys
      .command('config')
      .description('change min_decryption_version, rotation period or usage limit')
      .argument('<name>'),
  )
    .option('--min-decryption-version <n>', 'refuse to decrypt older versions', Number)
    .option('--rotation-period <ms>', 'scheduled rotation period in milliseconds', Number)
    .option('--max-uses <n>', 'encryptions per version before automatic rotation', Number)
    .action(
      (
        name: string,
        o: ConnectionOptions & { minDecryptionVersion?: number; rotationPeriod?: number; maxUses?: number },
      ) =>
        run(program, o, (c) =>
          c.call('PATCH', path(name, '/config'), {
            ...(o.minDecryptionVersion ? { min_decryption_version: o.minDecryptionVersion } : {}),
            ...(o.rotationPeriod ? { rotation_period_ms: o.rotationPeriod } : {}),
            ...(o.maxUses ? { max_uses_per_version: o.maxUses } : {}),
          }),
        ),
    );

  withConnection(keys.command('trim').description('delete versions below N for good').argument('<name>'))
    .requiredOption(
      '--min-available-version <n>',
      'oldest version to keep (at most min_decryption_version)',
      Number,
    )
    .action((name: string, o: ConnectionOptions & { minAvailableVersion: number }) =>
      run(program, o, (c) =>
        c.call('POST', path(name, '/trim'), { min_available_version: o.minAvailableVersion }),
      ),
    );

  withConnection(
    keys
      .command('rewrap')
      .description('re-encrypt ciphertexts under the latest version')
      .argument('<name>')
      .argument('<ciphertext...>'),
  )
    .option('--context <k=v,...>', 'encryption context')
    .action((name: string, ciphertexts: string[], o: ConnectionOptions & { context?: string }) => {
      const context = parseContext(o.context);
      return run(
        program,
        o,
        (c) =>
          c.call('POST', path(name, '/rewrap'), {
            batch: ciphertexts.map((ciphertext) => ({ ciphertext, ...(context ? { context } : {}) })),
          }),
        (out: { batch_results: { ciphertext?: string; error?: { code: string } }[] }) =>
          `${out.batch_results.map((r) => r.ciphertext ?? `error ${r.error?.code}`).join('\n')}\n`,
      );
    });

  withConnection(
    keys
      .command('encrypt')
      .description('encrypt a value (argument or stdin)')
      .argument('<name>')
      .argument('[plaintext]'),
  )
    .option('--context <k=v,...>', 'encryption context (tenant, record, field)')
    .action(
      async (name: string, plaintext: string | undefined, o: ConnectionOptions & { context?: string }) => {
        const value = plaintext === undefined ? readFileSync(0) : Buffer.from(plaintext, 'utf8');
        const context = parseContext(o.context);
        await run(
          program,
          o,
          async (c) => ({
            ciphertext: (await c.encrypt(name, [{ plaintext: value, ...(context ? { context } : {}) }]))[0],
          }),
          (out: { ciphertext: string }) => `${out.ciphertext}\n`,
        );
      },
    );

  withConnection(
    keys
      .command('decrypt')
      .description('decrypt a ciphertext to stdout')
      .argument('<name>')
      .argument('<ciphertext>'),
  )
    .option('--context <k=v,...>', 'encryption context it was encrypted with')
    .action((name: string, ciphertext: string, o: ConnectionOptions & { context?: string }) => {
      const context = parseContext(o.context);
      return run(
        program,
        o,
        async (c) => ({
          plaintext: (await c.decrypt(name, [{ ciphertext, ...(context ? { context } : {}) }]))[0]!.toString(
            'utf8',
          ),
        }),
        (out: { plaintext: string }) => `${out.plaintext}\n`,
      );
    });
}
