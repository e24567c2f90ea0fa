/**
 * `bulwark sidecar`: runs the mesh sidecar next to an application in any language. The application
 * listens on loopback (`--app-port`) and reads the caller's verified SPIFFE ID from the identity header;
 * it calls other services at `http://127.0.0.1:<port>` per `--outbound service=port`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Dispatcher } from 'undici';
import { componentAuditClient, coreError, createLogger } from '../../core/index.ts';
import { componentDispatcher } from '../../core/mtls/index.ts';
import { DEFAULT_RESILIENCE, DEFAULT_SIDECAR } from '../../sidecar/index.ts';
import { launchSidecar } from '../../sidecar/launch.ts';
import { configFile, loadPlatformConfig } from '../config-file.ts';
import { readState } from '../runtime-state.ts';

const int = (v: string) => Number.parseInt(v, 10);
const collect = (v: string, all: string[]) => [...all, v];

interface SidecarFlags {
  appPort: number;
  port: number;
  host: string;
  advertise?: string;
  outbound: string[];
  adminPort: number;
  joinToken?: string;
  authorityUrl?: string;
  authorityCa?: string;
  policy: string[];
  policyUrl?: string;
  identityHeader: string;
  tlsMin: 'TLSv1.2' | 'TLSv1.3';
  timeoutMs: number;
  tryTimeoutMs: number;
  retries: number;
}

export function registerSidecarCommands(program: Command): void {
  program
    .command('sidecar')
    .description(
      'mTLS + service-to-service policy in front of a local app, and resilient calls to other services',
    )
    .requiredOption('--app-port <port>', 'loopback port of the local application', int)
    .option('--port <port>', 'inbound mTLS port', int, DEFAULT_SIDECAR.inboundPort)
    .option('--host <address>', 'inbound bind address', DEFAULT_SIDECAR.inboundHost)
    .option('--advertise <host>', 'host other services dial (registered in discovery; default: --host)')
    .option('--outbound <service=port>', 'a loopback port for calls to SERVICE (repeatable)', collect, [])
    .option(
      '--admin-port <port>',
      'loopback port of /metrics and /healthz (-1 disables)',
      int,
      DEFAULT_SIDECAR.adminPort,
    )
    .option('--join-token <token>', 'one-time join token (default: $MESH_JOIN_TOKEN)')
    .option('--authority-url <url>', 'authority base URL (default: from the running platform)')
    .option('--authority-ca <file>', 'CA the authority certificate chains to (default: <home>/tls/ca.crt)')
    .option('--policy <file>', 'Cedar policy file (repeatable); default: follow --policy-url', collect, [])
    .option('--policy-url <url>', 'policy component URL whose bundle to follow')
    .option(
      '--identity-header <name>',
      'header carrying the verified caller ID to the app',
      DEFAULT_SIDECAR.identityHeader,
    )
    .option('--tls-min <version>', 'TLSv1.2 or TLSv1.3', DEFAULT_SIDECAR.minVersion)
    .option(
      '--timeout-ms <ms>',
      'total time for an outbound call, retries included',
      int,
      DEFAULT_RESILIENCE.totalTimeoutMs,
    )
    .option('--try-timeout-ms <ms>', 'time for one outbound attempt', int, DEFAULT_RESILIENCE.perTryTimeoutMs)
    .option('--retries <n>', 'retries of idempotent outbound calls', int, DEFAULT_RESILIENCE.maxRetries)
    .action(async (flags: SidecarFlags) => {
      const config = loadPlatformConfig(configFile(program.opts<{ config?: string }>().config));
      const state = readState(config.home);
      const authorityUrl =
        flags.authorityUrl ?? state?.components.find((c) => c.name === 'authority')?.url ?? undefined;
      if (!authorityUrl)
        throw coreError('upstream_unavailable', 'authority is not running here; pass --authority-url');
      const joinToken = flags.joinToken ?? process.env['MESH_JOIN_TOKEN'];
      if (!joinToken)
        throw coreError('invalid_request', 'a join token is required: --join-token or $MESH_JOIN_TOKEN');
      if (flags.policy.length === 0 && !flags.policyUrl) {
        throw coreError(
          'invalid_request',
          'give the service-to-service policy: --policy FILE or --policy-url URL',
        );
      }
      const outbound = flags.outbound.map((entry) => {
        const [service, port] = entry.split('=');
        if (!service || !port) throw coreError('invalid_request', `--outbound ${entry} is not service=port`);
        return { service, port: int(port) };
      });
      const logger = createLogger({
        level: config.log.level,
        component: 'sidecar',
        redactKeys: config.log.redactKeys,
        maskFields: config.log.maskFields,
      });
      const auditUrl = state?.components.find((c) => c.name === 'audit')?.url ?? undefined;
      // audit serves only mTLS under `bulwark up`: events go with the sidecar's SVID once it has joined.
      let auditDispatcher: Dispatcher | undefined;
      const audit = componentAuditClient(
        `sidecar-${flags.port}`,
        config,
        logger,
        config.auditClient.url ?? auditUrl,
        () => auditDispatcher,
      );
      const running = await launchSidecar({
        settings: {
          ...DEFAULT_SIDECAR,
          appPort: flags.appPort,
          inboundPort: flags.port,
          inboundHost: flags.host,
          advertiseHost: flags.advertise ?? flags.host,
          outbound,
          adminPort: flags.adminPort,
          identityHeader: flags.identityHeader.toLowerCase(),
          minVersion: flags.tlsMin,
          resilience: {
            ...DEFAULT_RESILIENCE,
            totalTimeoutMs: flags.timeoutMs,
            perTryTimeoutMs: flags.tryTimeoutMs,
            maxRetries: flags.retries,
          },
        },
        authorityUrl,
        authorityCa: readFileSync(
          flags.authorityCa ?? state?.caFile ?? join(config.home, 'tls', 'ca.crt'),
          'utf8',
        ),
        joinToken,
        policyFiles: flags.policy,
        ...(flags.policyUrl ? { policyUrl: flags.policyUrl } : {}),
        logger,
        audit,
      });
      process.stdout.write(
        `sidecar for ${running.identity.spiffeId}: inbound mTLS on ${flags.host}:${running.inboundPort}` +
          `${Object.entries(running.outboundPorts)
            .map(([s, p]) => `, ${s} on 127.0.0.1:${p}`)
            .join('')}\n`,
      );
      auditDispatcher = componentDispatcher(running.identity, 'audit');
      const stop = async () => {
        await running.stop();
        await audit.close();
        await auditDispatcher?.close();
        process.exit(0);
      };
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop());
      if (process.send) {
        // Under a supervisor (`bulwark up --demo`): ready once listening; gone with the supervisor.
        process.once('disconnect', () => void stop());
        process.send({ type: 'ready', url: `https://${flags.host}:${running.inboundPort}` });
      }
    });
}
