import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { signalInit } from '../../src/container/container-signal.js';
import type { OciRuntime } from '../../src/oci/runtime.js';
import { processStartTime } from '../../src/util/process-start-time.js';

describe('container: signalling a container init', () => {
  /** A runtime whose kill must not run: the pidfd path needs none. */
  const noRuntime = { kill: () => Promise.reject(new Error('the runtime was called')) } as unknown as OciRuntime;

  async function sleeper(): Promise<{ pid: number; startTime: string; exited: Promise<NodeJS.Signals | null> }> {
    const child = spawn('sleep', ['300'], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, s) => r(s)));
    const startTime = await processStartTime(child.pid!);
    assert.ok(startTime);
    return { pid: child.pid!, startTime, exited };
  }

  it('signals the process the pid and start time name, without the runtime', async () => {
    const p = await sleeper();
    await signalInit({ id: 'c1', pid: p.pid, pidStartTime: p.startTime }, 'TERM', noRuntime);
    assert.equal(await p.exited, 'SIGTERM');
  });

  it('leaves alone a process whose start time is not the recorded one (a reused pid)', async () => {
    const p = await sleeper();
    try {
      await signalInit({ id: 'c2', pid: p.pid, pidStartTime: String(Number(p.startTime) - 1) }, 'SIGKILL', noRuntime);
      assert.ok(await processStartTime(p.pid), 'still running');
    } finally {
      process.kill(p.pid, 'SIGKILL');
      await p.exited;
    }
  });

  it('a process already reaped is no error', async () => {
    const p = await sleeper();
    process.kill(p.pid, 'SIGKILL');
    await p.exited;
    await signalInit({ id: 'c3', pid: p.pid, pidStartTime: p.startTime }, 'SIGTERM', noRuntime);
  });

  it('goes through the runtime for --all, for a record without a start time, and for a signal with no number here', async () => {
    const calls: string[] = [];
    const rt = { kill: (id: string, sig: string, all?: boolean) => (calls.push(`${id} ${sig} ${all ? 'all' : 'one'}`), Promise.resolve()) } as unknown as OciRuntime;
    await signalInit({ id: 'a', pid: 1, pidStartTime: '1' }, 'SIGKILL', rt, true);
    await signalInit({ id: 'b', pid: 1 }, 'SIGTERM', rt);
    await signalInit({ id: 'c', pid: 1, pidStartTime: '1' }, 'SIGRTMIN+3', rt);
    assert.deepEqual(calls, ['a SIGKILL all', 'b SIGTERM one', 'c SIGRTMIN+3 one']);
  });
});
