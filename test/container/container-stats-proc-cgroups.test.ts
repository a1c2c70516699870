import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { ProcCgroups } from '../../src/container/container-stats.js';

describe('container/container-stats: /proc/PID/cgroup kept by container and pid', () => {
  it('read once per pid: kept after the process is gone, read again for a new pid, dropped by forget', async () => {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      await once(child, 'spawn');
      const pid = child.pid!;
      const expected = await readFile(`/proc/${pid}/cgroup`, 'utf8');
      const cache = new ProcCgroups();
      assert.equal(await cache.get('c1', pid), expected);
      child.kill('SIGKILL');
      await once(child, 'exit');
      // Gone, and reaped: only the kept text can answer now.
      await assert.rejects(readFile(`/proc/${pid}/cgroup`, 'utf8'), { code: 'ENOENT' });
      assert.equal(await cache.get('c1', pid), expected);
      // Another pid for the same container (a restart) is read, not taken from the old one.
      assert.equal(await cache.get('c1', process.pid), await readFile('/proc/self/cgroup', 'utf8'));
      // A failed read is not kept (pid_max itself is never a pid), and forget drops what was.
      const never = Number((await readFile('/proc/sys/kernel/pid_max', 'utf8')).trim());
      assert.equal(await cache.get('c2', never), undefined);
      assert.equal(await cache.get('c2', never), undefined);
      cache.forget('c1');
      assert.equal(await cache.get('c1', pid), undefined);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
