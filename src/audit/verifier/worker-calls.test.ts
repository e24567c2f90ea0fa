import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { WorkerCalls } from './worker-calls.ts';

// Echoes `n * 2` under the call's id; `exit` ends the thread without an answer.
const ECHO = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => {
  if (m.exit) process.exit(3);
  parentPort.postMessage({ id: m.id, doubled: m.n * 2 });
});`;

describe('calls to a worker thread', () => {
  it('matches each answer to its call, in any order of arrival', async () => {
    const calls = new WorkerCalls<{ id: number; doubled: number }>(new Worker(ECHO, { eval: true }), 'echo');
    const answers = await Promise.all([1, 2, 3].map((n) => calls.call({ n })));
    assert.deepEqual(
      answers.map((a) => a.doubled),
      [2, 4, 6],
    );
    assert.equal(calls.inFlight, 0);
    await calls.close();
    assert.equal(calls.usable, false);
  });

  it('rejects the calls in flight and every later one when the thread dies, and says so once', async () => {
    const failures: Error[] = [];
    const calls = new WorkerCalls<{ id: number }>(new Worker(ECHO, { eval: true }), 'the echo thread', (e) =>
      failures.push(e),
    );
    await assert.rejects(calls.call({ exit: true }), /the echo thread has stopped/);
    await assert.rejects(calls.call({ n: 1 }), /the echo thread has stopped/);
    assert.equal(calls.usable, false);
    assert.equal(failures.length, 1);
  });

  it('reports nothing when it is closed on purpose', async () => {
    const failures: Error[] = [];
    const calls = new WorkerCalls(new Worker(ECHO, { eval: true }), 'echo', (e) => failures.push(e));
    await calls.close({ exit: true });
    assert.equal(failures.length, 0);
  });
});
