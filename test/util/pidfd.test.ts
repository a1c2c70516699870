import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closePidfd, openPidfd, signalNumber, signalPidfd } from '../../src/util/pidfd.js';

describe('util: pidfd signals', () => {
  it('names signals as runc does: SIGTERM, TERM or 15; nothing else', () => {
    const table: [string, number | undefined][] = [
      ['SIGTERM', 15],
      ['TERM', 15],
      ['15', 15],
      ['SIGKILL', 9],
      ['SIGRTMIN', undefined],
      ['0', undefined],
      ['65', undefined],
      ['SIGNOPE', undefined],
      ['constructor', undefined],
      ['', undefined],
    ];
    for (const [name, n] of table) assert.equal(signalNumber(name), n, name);
  });

  it('a pidfd keeps naming its process: after it exits and is reaped, a signal says so', async () => {
    const child = spawn('sleep', ['300'], { stdio: 'ignore' });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const fd = openPidfd(child.pid!);
    assert.ok(fd !== undefined);
    try {
      assert.equal(signalPidfd(fd, 0), true, 'signal 0 reaches a live process');
      child.kill('SIGKILL');
      await exited;
      assert.equal(signalPidfd(fd, 15), false, 'reaped: ESRCH, whatever now has its pid');
    } finally {
      closePidfd(fd);
    }
  });
});
