/**
 * `bulwark run NAME`: one component in the foreground. The supervisor starts each child this way; in a
 * cluster it is the command of each deployment. Under a supervisor it reports ready over IPC and exits
 * when the supervisor goes away.
 */
import { type BulwarkConfig, coreError, runComponent } from '../../core/index.ts';
import { COMPONENTS, findComponent } from '../components.ts';
import type { ReadyMessage } from '../supervisor.ts';

export async function run(name: string, config: BulwarkConfig, out: NodeJS.WritableStream): Promise<void> {
  const definition = findComponent(name);
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
