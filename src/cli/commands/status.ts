/** `bulwark status`: what `bulwark up` runs, and whether each component answers its readiness probe now. */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import type { BulwarkConfig } from '../../core/index.ts';
import { withOperatorCertificate } from '../operator-identity.ts';
import { isAlive, readState } from '../runtime-state.ts';

export interface ComponentStatus {
  name: string;
  status: string;
  pid: number | null;
  url: string | null;
  restarts: number;
  health: 'ready' | 'not_ready' | 'unreachable' | 'unknown';
  /** Further listeners by name, e.g. the gateway's `public` entry point. */
  endpoints: Record<string, string>;
}

export interface PlatformStatus {
  running: boolean;
  supervisorPid: number | null;
  startedAt: string | null;
  home: string;
  components: ComponentStatus[];
}

export async function collectStatus(config: BulwarkConfig, timeoutMs = 2000): Promise<PlatformStatus> {
  const state = readState(config.home);
  if (!state || !isAlive(state.supervisorPid)) {
    return { running: false, supervisorPid: null, startedAt: null, home: config.home, components: [] };
  }
  const dispatcher = new Agent({
    // Services of the mesh (the SDK's server, sidecars) want a client SVID even for health.
    connect: withOperatorCertificate({
      ...(state.caFile ? { ca: readFileSync(state.caFile, 'utf8') } : {}),
      timeout: timeoutMs,
    }),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  try {
    const components = await Promise.all(
      state.components.map(
        async (c): Promise<ComponentStatus> => ({
          name: c.name,
          status: c.status,
          pid: c.pid,
          url: c.url,
          restarts: c.restarts,
          endpoints: c.endpoints ?? {},
          health: c.url ? await probe(`${c.url}/readyz`, dispatcher) : 'unknown',
        }),
      ),
    );
    return {
      running: true,
      supervisorPid: state.supervisorPid,
      startedAt: state.startedAt,
      home: config.home,
      components,
    };
  } finally {
    await dispatcher.close();
  }
}

async function probe(url: string, dispatcher: Agent): Promise<ComponentStatus['health']> {
  try {
    const res = await request(url, { dispatcher });
    await res.body.dump();
    return res.statusCode === 200 ? 'ready' : 'not_ready';
  } catch {
    return 'unreachable';
  }
}

export function formatStatus(status: PlatformStatus): string {
  if (!status.running)
    return `Bulwark is not running (data directory ${status.home}). Start it with \`npm start\`.\n`;
  const width = Math.max(9, ...status.components.map((c) => c.name.length));
  const row = (cells: string[]) =>
    `  ${cells[0]!.padEnd(width)}  ${cells[1]!.padEnd(11)}  ${cells[2]!.padEnd(10)}  ${cells[3]!.padEnd(7)}  ${cells[4]!.padEnd(8)}  ${cells[5]}`;
  return [
    `Bulwark is running (supervisor pid ${status.supervisorPid}, since ${status.startedAt})`,
    row(['component', 'health', 'process', 'pid', 'restarts', 'url']),
    ...status.components.flatMap((c) => [
      row([c.name, c.health, c.status, String(c.pid), String(c.restarts), c.url ?? '-']),
      ...Object.entries(c.endpoints).map(([name, url]) => row(['', '', '', '', '', `${name}: ${url}`])),
    ]),
    '',
  ].join('\n');
}
