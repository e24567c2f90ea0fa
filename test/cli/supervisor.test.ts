import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isAlive } from '../../src/cli/runtime-state.ts';
import { type ChildState, Supervisor, type SupervisorOptions } from '../../src/cli/supervisor.ts';
import { systemClock } from '../../src/core/index.ts';
import { waitFor } from '../fixtures/wait.ts';

const CHILD = fileURLToPath(new URL('../fixtures/child.ts', import.meta.url));
const HOST = fileURLToPath(new URL('../fixtures/supervisor-host.ts', import.meta.url));
const OPTIONS: SupervisorOptions = {
  restartInitialDelayMs: 50,
  restartMaxDelayMs: 2000,
  stableAfterMs: 60000,
  readyTimeoutMs: 5000,
  stopTimeoutMs: 1500,
};

function spec(name: string, mode: string, extra: Record<string, string> = {}) {
  return { name, module: CHILD, args: [], env: { ...process.env, FIXTURE_MODE: mode, ...extra } };
}

describe('supervisor', () => {
  it('pre-forks a later stage, which loads while the earlier one starts and runs with the env of its turn', async () => {
    const loadedFile = join(mkdtempSync(join(tmpdir(), 'bulwark-preload-')), 'loaded');
    const environFile = `${loadedFile}.environ`;
    process.env['FIXTURE_SUPERVISOR_SECRET'] = 'not-for-b';
    let firstReadyAt = 0;
    const supervisor = new Supervisor(
      [
        { ...spec('a', 'slow-ready'), stage: 0 },
        {
          name: 'b',
          module: CHILD,
          args: [],
          stage: 1,
          preload: true,
          // It loads without what it is not to have: its initial environment stays readable in /proc.
          preloadEnv: {
            PATH: process.env['PATH'],
            FIXTURE_LOADED_FILE: loadedFile,
            FIXTURE_ENVIRON_FILE: environFile,
          },
          // Computed at b's turn: what it learnt from stage 0.
          env: () => ({ ...process.env, FIXTURE_MODE: 'ok', FIXTURE_URL: `after-${firstReadyAt > 0}` }),
        },
      ],
      OPTIONS,
      systemClock,
    );
    process.env['FIXTURE_LOADED_FILE'] = loadedFile;
    supervisor.on('ready', (child) => {
      if (child.name === 'a') firstReadyAt = Date.now();
    });
    try {
      await supervisor.start();
      const b = supervisor.snapshot().find((c) => c.name === 'b')!;
      assert.equal(b.url, 'after-true');
      const loadedAt = Number(readFileSync(loadedFile, 'utf8'));
      assert.ok(loadedAt < firstReadyAt, 'b had loaded before a was ready');
      const environ = readFileSync(environFile, 'utf8');
      assert.match(environ, /FIXTURE_LOADED_FILE=/);
      assert.doesNotMatch(environ, /FIXTURE_SUPERVISOR_SECRET/);
    } finally {
      delete process.env['FIXTURE_SUPERVISOR_SECRET'];
      delete process.env['FIXTURE_LOADED_FILE'];
      await supervisor.stop();
    }
  });

  it('starts each child, which reports ready with its URL', async () => {
    const supervisor = new Supervisor([spec('a', 'ok'), spec('b', 'ok')], OPTIONS, systemClock);
    await supervisor.start();
    const children = supervisor.snapshot();
    assert.deepEqual(
      children.map((c) => [c.name, c.status, c.url]),
      children.map((c) => [c.name, 'running', `fixture://${c.pid}`]),
    );
    assert.ok(children.every((c) => c.pid !== null && isAlive(c.pid)));
    await supervisor.stop();
  });

  it('restarts a child that is killed, with a new process', async () => {
    const supervisor = new Supervisor([spec('a', 'ok')], OPTIONS, systemClock);
    await supervisor.start();
    const first = supervisor.snapshot()[0]!.pid!;
    process.kill(first, 'SIGKILL');
    const restarted = await waitFor(() => {
      const c = supervisor.snapshot()[0]!;
      return c.status === 'running' && c.pid !== first ? c : undefined;
    }, 'restart');
    assert.equal(restarted.restarts, 1);
    assert.equal(restarted.lastExit?.signal, 'SIGKILL');
    assert.ok(isAlive(restarted.pid!));
    await supervisor.stop();
  });

  it('backs off between restarts of a child that keeps crashing', async () => {
    const supervisor = new Supervisor(
      [spec('a', 'crash-always')],
      { ...OPTIONS, restartMaxDelayMs: 300 },
      systemClock,
    );
    const delays: number[] = [];
    supervisor.on('change', ([a]) => {
      if (a?.status === 'restarting' && a.restartDelayMs !== delays.at(-1)) delays.push(a.restartDelayMs!);
    });
    await supervisor.start();
    await waitFor(() => delays.length >= 4, 'four restarts');
    await supervisor.stop();
    // Doubling from restartInitialDelayMs, capped at restartMaxDelayMs.
    assert.deepEqual(delays.slice(0, 4), [50, 100, 200, 300]);
  });

  it('stops every child on stop() and leaves none running', async () => {
    const supervisor = new Supervisor(
      [
        spec('a', 'ok'),
        spec('b', 'ok'),
        spec('c', 'crash-once', { FIXTURE_MARKER: join(mkdtempSync(join(tmpdir(), 'bw-')), 'm') }),
      ],
      OPTIONS,
      systemClock,
    );
    await supervisor.start();
    const pids = supervisor.snapshot().map((c) => c.pid!);
    await supervisor.stop();
    assert.ok(supervisor.snapshot().every((c: ChildState) => c.status === 'stopped' && c.pid === null));
    await waitFor(() => pids.every((p) => !isAlive(p)), 'all children gone');
  });

  it('kills a child that ignores SIGTERM after the stop timeout', async () => {
    const supervisor = new Supervisor([spec('stubborn', 'ignore-term')], OPTIONS, systemClock);
    await supervisor.start();
    const pid = supervisor.snapshot()[0]!.pid!;
    const started = Date.now();
    await supervisor.stop();
    assert.ok(Date.now() - started >= OPTIONS.stopTimeoutMs - 100);
    assert.equal(supervisor.snapshot()[0]!.lastExit?.signal, 'SIGKILL');
    assert.ok(!isAlive(pid));
  });

  it('fails start() when a child exits before it is ready, and stops the others', async () => {
    const supervisor = new Supervisor([spec('good', 'ok'), spec('bad', 'fail-start')], OPTIONS, systemClock);
    await assert.rejects(supervisor.start(), /bad exited before it was ready \(code 2/);
    const pid = supervisor.snapshot()[0]!.pid!;
    await supervisor.stop();
    await waitFor(() => !isAlive(pid), 'good child gone');
  });

  it('fails start() when a child never reports ready', async () => {
    const supervisor = new Supervisor(
      [spec('mute', 'never-ready')],
      { ...OPTIONS, readyTimeoutMs: 500 },
      systemClock,
    );
    await assert.rejects(supervisor.start(), /mute did not report ready within 500 ms/);
    await supervisor.stop();
  });

  it('leaves no orphan when the supervisor itself is killed with SIGKILL', async () => {
    const host = spawn(process.execPath, [HOST], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    host.stdout.on('data', (d) => {
      out += String(d);
    });
    const pids = await waitFor(
      () => (out.includes('\n') ? (JSON.parse(out) as number[]) : undefined),
      'host to start',
    );
    assert.ok(pids.every(isAlive));
    host.kill('SIGKILL');
    await waitFor(() => pids.every((p) => !isAlive(p)), 'children to exit after the supervisor died');
  });
});

describe('supervisor stages', () => {
  it('starts the children of one stage together, after the previous stage is ready', async () => {
    const supervisor = new Supervisor(
      [
        { ...spec('first', 'ok'), stage: 0 },
        { ...spec('b', 'ok'), stage: 1 },
        { ...spec('c', 'ok'), stage: 1 },
      ],
      OPTIONS,
      systemClock,
    );
    const events: string[] = [];
    supervisor.on('change', (children) => {
      const line = children.map((c) => `${c.name}:${c.status}`).join(' ');
      if (events.at(-1) !== line) events.push(line);
    });
    await supervisor.start();
    // b and c are both starting before either is running; first was running before they started.
    assert.ok(events.includes('first:running b:starting c:starting'), events.join('\n'));
    assert.ok(!events.some((e) => e.startsWith('first:starting') && !e.includes('b:stopped')));
    await supervisor.stop();
  });
});
