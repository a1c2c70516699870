import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ContainerCounters } from '../../src/container/container-stats.js';
import { detectCgroups } from '../../src/oci/cgroup-host.js';

/** This process's open fds, counted without yielding: a read's end would run in between. */
const openFds = (): number => readdirSync('/proc/self/fd').length;

describe('container/container-stats: cgroup counters kept by container and pid', () => {
  it('opened once per pid: kept after the process is gone, opened again for a new pid, closed by forget', async () => {
    const host = await detectCgroups();
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    const counters = new ContainerCounters(host);
    try {
      await once(child, 'spawn');
      const pid = child.pid!;
      const before = openFds();
      const first = await counters.get('c1', pid);
      assert.ok(first, 'opened');
      assert.ok(openFds() > before, 'its counter files stay open');
      assert.ok((await first.read()).memoryUsageBytes > 0n, 'the memory of the cgroup the test runs in');
      child.kill('SIGKILL');
      await once(child, 'exit');
      // Gone, and reaped: only what was kept can answer now.
      await assert.rejects(readFile(`/proc/${pid}/cgroup`, 'utf8'), { code: 'ENOENT' });
      assert.equal(await counters.get('c1', pid), first);
      // Another pid for the same container (a restart) is opened anew; the old files are closed.
      const second = await counters.get('c1', process.pid);
      assert.ok(second && second !== first);
      assert.deepEqual(await first.read(), { cpuNanoseconds: 0n, memoryUsageBytes: 0n, memoryWorkingSetBytes: 0n, memoryRssBytes: 0n, processes: 0 }, 'closed');
      // A failed read is not kept (pid_max itself is never a pid), and forget closes what was.
      const never = Number((await readFile('/proc/sys/kernel/pid_max', 'utf8')).trim());
      assert.equal(await counters.get('c2', never), undefined);
      assert.equal(counters.size, 1);
      counters.forget('c1');
      assert.equal(counters.size, 0);
      assert.equal(openFds(), before, 'every file closed');
      assert.equal(await counters.get('c1', pid), undefined);
    } finally {
      counters.forget('c1');
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('a container forgotten while its counters were being opened keeps none open', async () => {
    const counters = new ContainerCounters(await detectCgroups());
    const before = openFds();
    const opening = counters.get('c1', process.pid);
    // Removed (or its process seen gone) while /proc/PID/cgroup was read.
    counters.forget('c1');
    assert.equal(await opening, undefined);
    assert.equal(counters.size, 0);
    assert.equal(openFds(), before);
    // A later reading opens them as usual.
    assert.ok(await counters.get('c1', process.pid));
    counters.forget('c1');
    assert.equal(openFds(), before);
  });
});
