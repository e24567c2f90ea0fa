/**
 * Everything `bulwark sidecar` does before serving: join the mesh with the one-time token, load the
 * service-to-service policy (Cedar files, or the bundle `policy` serves, polled), then start the sidecar.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { AuditSink, Logger } from '../core/index.ts';
import { componentDispatcher } from '../core/mtls/index.ts';
import { BundleClient, PolicyEngine } from '../core/policy-engine/index.ts';
import { AuthorityClient, ServicePolicy, WorkloadIdentity } from '../sdk/mesh/index.ts';
import type { SidecarSettings } from './config.ts';
import { type RunningSidecar, startSidecar } from './sidecar.ts';

export interface LaunchOptions {
  settings: SidecarSettings;
  authorityUrl: string;
  /** PEM the authority's server certificate chains to. */
  authorityCa: string;
  joinToken: string;
  /** Cedar policy files; or `policyUrl` to follow `policy`'s bundle. */
  policyFiles?: string[];
  policyUrl?: string;
  logger: Logger;
  /** Where issuance, revocation and denial events go (the core audit client). */
  audit: AuditSink;
}

export async function launchSidecar(
  options: LaunchOptions,
): Promise<RunningSidecar & { identity: WorkloadIdentity }> {
  const authority = new AuthorityClient({ url: options.authorityUrl, authorityCa: options.authorityCa });
  const identity = await WorkloadIdentity.join({
    authority,
    joinToken: options.joinToken,
    minVersion: options.settings.minVersion,
    onError: (err) => options.logger.warn({ err }, 'identity maintenance failed; retrying'),
  });
  options.logger.info({ spiffeId: identity.spiffeId }, 'joined the mesh');
  const engine = new PolicyEngine();
  let bundles: BundleClient | undefined;
  // policy serves mTLS: connect with the current SVID (a fixed copy would expire an hour after the start
  // and stop every update) and accept only policy's own SPIFFE ID.
  const policyDispatcher = options.policyUrl ? componentDispatcher(identity, 'policy') : undefined;
  if (options.policyUrl && policyDispatcher) {
    bundles = new BundleClient({
      url: options.policyUrl,
      engine,
      dispatcher: policyDispatcher,
      // A long poll: a new version is in force as soon as policy has it.
      waitSeconds: 30,
      onError: (err) =>
        options.logger.warn({ err }, 'policy bundle poll failed; the last bundle keeps deciding'),
    });
    await bundles.start();
  } else {
    engine.load({
      policies: (options.policyFiles ?? []).map((file) => ({
        file: basename(file),
        text: readFileSync(file, 'utf8'),
      })),
    });
  }
  const sidecar = await startSidecar({
    settings: options.settings,
    identity,
    policy: new ServicePolicy(engine),
    authority,
    audit: options.audit,
    logger: options.logger,
  });
  return {
    ...sidecar,
    identity,
    stop: async () => {
      bundles?.stop();
      await policyDispatcher?.close();
      await sidecar.stop();
      await identity.close();
    },
  };
}
