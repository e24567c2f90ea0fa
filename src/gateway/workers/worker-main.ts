/**
 * One gateway worker process (see worker-pool.ts): builds its gateway from the component's `init`, serves
 * the shared public port, applies every change the component sends, and sends back audit events (batched
 * per tick) and metrics on request. It owns no state of its own that outlives it: even its in-memory
 * limits count in the component (remote-counters.ts).
 */
import process from 'node:process';
import { type AuditEvent, type AuditSink, createLogger, type Logger, systemClock } from '../../core/index.ts';
import { RevocationSet, RotatingCredentials } from '../../core/mtls/index.ts';
import { PolicyEngine } from '../../core/policy-engine/index.ts';
import { type BuiltGateway, gatewayFromSettings } from '../gateway-settings.ts';
import type { FromWorker, ToWorker, WorkerInit } from './messages.ts';
import { RemoteCounters } from './remote-counters.ts';

const send = (message: FromWorker) => {
  if (process.connected) process.send?.(message);
};

/** Events go to the component in batches, one IPC message per tick at most. */
class ForwardingAuditSink implements AuditSink {
  #batch: AuditEvent[] = [];
  record(event: AuditEvent): void {
    if (this.#batch.length === 0) setImmediate(() => this.#send());
    this.#batch.push(event);
  }
  #send(): void {
    const events = this.#batch;
    this.#batch = [];
    if (events.length) send({ type: 'audit', events });
  }
  async flush(): Promise<void> {
    this.#send();
  }
  async close(): Promise<void> {
    this.#send();
  }
}

let built: BuiltGateway | undefined;
let logger: Logger | undefined;
let credentials: RotatingCredentials | undefined;
let peerRevocations: RevocationSet | undefined;
const audit = new ForwardingAuditSink();
// In-memory limits count in the component, for every process behind the port.
const counters = new RemoteCounters((id, ops) => send({ type: 'counters', id, ops }));
const engine = new PolicyEngine();

async function start(init: WorkerInit): Promise<void> {
  logger = createLogger({ ...init.log, component: 'gateway' });
  if (init.policy) engine.load(init.policy);
  const mesh = init.mesh;
  if (mesh) {
    credentials = new RotatingCredentials(mesh.material, { minVersion: mesh.minVersion });
    peerRevocations = new RevocationSet(systemClock);
    peerRevocations.apply(mesh.peerRevocations);
  }
  built = gatewayFromSettings(init.settings, {
    routes: init.routes,
    logger,
    audit,
    clock: systemClock,
    engine,
    counters,
    // As in the component: the SVID calls mesh upstreams, and serves the port unless a file is configured.
    ...(mesh && credentials && peerRevocations
      ? {
          upstreamIdentity: { credentials, trustDomain: mesh.trustDomain, revocations: peerRevocations },
          svid: { credentials, minVersion: mesh.minVersion },
        }
      : {}),
  });
  const { gateway } = built;
  for (const r of init.revocations) gateway.runtime.revocations.revoke(r.value, r.expiresAt, r.kind);
  await gateway.listen(init.port, init.host, { reusePort: true });
}

async function handle(message: ToWorker): Promise<void> {
  if (message.type === 'init') {
    try {
      await start(message);
      send({ type: 'ready' });
    } catch (err) {
      send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    }
    return;
  }
  const gateway = built?.gateway;
  if (!gateway) return;
  switch (message.type) {
    case 'routes':
      // The component counted the reload once; its workers do not count it again.
      gateway.apply(message.document, { counted: false });
      break;
    case 'revoke':
      gateway.runtime.revocations.revoke(
        message.revocation.value,
        message.revocation.expiresAt,
        message.revocation.kind,
      );
      break;
    case 'bundle':
      engine.load(message.source);
      break;
    case 'svid':
      credentials?.update(message.material);
      break;
    case 'peer-revocations':
      peerRevocations?.apply(message.feed);
      break;
    case 'metrics':
      send({
        type: 'metrics',
        id: message.id,
        metrics: await gateway.runtime.metrics.registry.getMetricsAsJSON(),
      });
      break;
    case 'close':
      await gateway.close(message.graceMs);
      await audit.flush();
      await built?.release();
      process.exit(0);
  }
}

// Messages are handled in order: a change sent after `init` never overtakes it. A change this worker
// cannot apply would leave it serving other routes, keys or policies than the rest: it stops instead,
// and the component starts another from the current state.
let chain = Promise.resolve();
process.on('message', (message: ToWorker) => {
  // Answers for requests in flight: never queued behind a change (or behind a graceful close).
  if (message.type === 'counters') return counters.answer(message.id, message.results);
  chain = chain
    .then(() => handle(message))
    .catch((err: unknown) => {
      logger?.error(
        { err: { message: err instanceof Error ? err.message : String(err) }, change: message.type },
        'a gateway worker could not apply a change; exiting to be restarted',
      );
      process.exit(1);
    });
});
// The component is gone (crashed or killed): a worker never serves on without it.
process.on('disconnect', () => process.exit(0));
