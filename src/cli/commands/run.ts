/**
 * `bulwark run NAME`: one component in the foreground. The supervisor starts each child this way; in a
 * cluster it is the command of each deployment. Under a supervisor it reports ready over IPC and exits
 * when the supervisor goes away.
 */
import { type BulwarkConfig, coreError, runComponent } from '../../core/index.ts';
import { COMPONENTS, loadComponent } from '../components.ts';
import { type LoadedMessage, PRELOAD_ENV, type ReadyMessage, type StartMessage } from '../supervisor.ts';

/**
 * A child the supervisor forked ahead of its stage: its code is loaded by now; it says so and waits for
 * the environment it is to run with (URLs of the components started before it, its join token).
 */
export async function awaitRelease(): Promise<void> {
  if (process.env[PRELOAD_ENV] !== '1' || !process.send) return;
  delete process.env[PRELOAD_ENV];
  const released = new Promise<NodeJS.ProcessEnv>((resolve) => {
    const onMessage = (message: unknown) => {
      if ((message as { type?: unknown })?.type !== 'start') return;
      process.off('message', onMessage);
      resolve((message as StartMessage).env);
    };
    process.on('message', onMessage);
    // The supervisor went away before this component's turn: nothing to run for.
    process.once('disconnect', () => process.exit(0));
  });
  process.send({ type: 'loaded' } satisfies LoadedMessage);
  const env = await released;
  for (const key of Object.keys(process.env)) if (!(key in env)) delete process.env[key];
  Object.assign(process.env, env);
}

export async function run(name: string, config: BulwarkConfig, out: NodeJS.WritableStream): Promise<void> {
  const definition = await loadComponent(name);
  if (!definition) {
    throw coreError(
      'component_unknown',
      `no component named ${name}; known: ${COMPONENTS.map((c) => c.name).join(', ') || 'none'}`,
    );
  }
  const running = await runComponent(definition, config);
  const stop = async () => {
    await running.stop();
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop());
  if (process.send) {
    process.once('disconnect', () => void stop());
    process.send({ type: 'ready', url: running.url, endpoints: running.endpoints } satisfies ReadyMessage);
  } else {
    out.write(`${name} listening on ${running.url}\n`);
  }
}
