/**
 * The file through which `bulwark up` tells other commands what runs: `<home>/run/state.json`, rewritten
 * atomically on every change and removed on a clean stop. `bulwark status` reads it and asks each
 * component's `/readyz` itself rather than trusting the file.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildState } from './supervisor.ts';

export interface RuntimeState {
  supervisorPid: number;
  startedAt: string;
  home: string;
  /** CA certificate that the components' certificates chain to (null when TLS is off). */
  caFile: string | null;
  components: ChildState[];
}

export function statePath(home: string): string {
  return join(home, 'run', 'state.json');
}

export function writeState(state: RuntimeState): void {
  const path = statePath(state.home);
  mkdirSync(join(state.home, 'run'), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, path);
}

export function readState(home: string): RuntimeState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(home), 'utf8')) as RuntimeState;
  } catch {
    return undefined;
  }
}

export function removeState(home: string): void {
  rmSync(statePath(home), { force: true });
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
