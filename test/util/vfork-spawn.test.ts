import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { endedFrom, failureOf, runToEnd, vforkSpawn, type Completed } from '../../src/util/vfork-spawn.js';
import { makePipe } from '../../src/util/pipe.js';
import { closeSync } from 'node:fs';

const run = (file: string, args: string[], o: Partial<Parameters<typeof runToEnd>[2]> = {}): Promise<Completed> => runToEnd(file, args, { timeoutMs: 10_000, maxBuffer: 1 << 20, ...o });

/** A field of /proc/PID/status (SigIgn, SigBlk...) as a bit mask. */
const statusMask = (status: string, field: string): bigint => BigInt(`0x${new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)![1]}`);

describe('util/vfork-spawn: children started with posix_spawn', () => {
  describe('endedFrom: wait statuses', () => {
    const cases: [string, number, ReturnType<typeof endedFrom>][] = [
      ['exit 0', 0, { code: 0, signal: null }],
      ['exit 3', 3 << 8, { code: 3, signal: null }],
      ['exit 255', 255 << 8, { code: 255, signal: null }],
      ['SIGKILL', 9, { code: null, signal: 'SIGKILL' }],
      ['SIGTERM with a core flag', 15 | 0x80, { code: null, signal: 'SIGTERM' }],
    ];
    for (const [what, status, want] of cases) it(what, () => assert.deepEqual(endedFrom(status), want));
  });

  it('collects stdout and stderr and the exit code', async () => {
    const r = await run('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual(r, { code: 3, signal: null, stdout: 'out\n', stderr: 'err\n' });
    assert.equal(failureOf('sh', r), 'sh: exited with code 3');
    assert.equal(failureOf('sh', await run('true', [])), undefined);
  });

  it('a child killed by a signal says which', async () => {
    const r = await run('sh', ['-c', 'kill -TERM $$']);
    assert.equal(r.signal, 'SIGTERM');
    assert.equal(failureOf('sh', r), 'sh: killed by SIGTERM');
  });

  it('past its time: SIGKILLed, and the call returns even though a grandchild holds its pipes', async () => {
    const r = await run('sh', ['-c', 'sleep 30 & echo $!; exec sleep 31'], { timeoutMs: 300 });
    const grandchild = Number(r.stdout.trim());
    assert.ok(grandchild > 0, r.stdout);
    process.kill(grandchild, 'SIGKILL');
    assert.equal(r.killed, 'timeout');
    assert.equal(r.signal, 'SIGKILL');
    assert.match(failureOf('sh', r) ?? '', /timed out/);
  });

  it('past maxBuffer: capped, and the child is killed', async () => {
    const r = await run('yes', [], { maxBuffer: 1000 });
    assert.equal(r.stdout.length, 1000);
    assert.equal(r.killed, 'maxBuffer');
  });

  it('env and cwd as given; stdin is /dev/null', async () => {
    const r = await run('sh', ['-c', 'echo "$FOO"; pwd; readlink /proc/self/fd/0; echo "${HOME-unset}"'], { env: { FOO: 'bar', PATH: process.env.PATH }, cwd: '/tmp' });
    assert.equal(r.stdout, 'bar\n/tmp\n/dev/null\nunset\n');
  });

  it('every signal at its default and none blocked, though the daemon ignores SIGPIPE', async () => {
    const status = (await run('cat', ['/proc/self/status'])).stdout;
    assert.equal(statusMask(status, 'SigBlk'), 0n);
    const SIGPIPE = 1n << 12n;
    assert.equal(statusMask(status, 'SigIgn') & SIGPIPE, 0n);
    // glibc keeps its two internal signals (32, 33) out of every set: nothing else may be ignored.
    assert.equal(statusMask(status, 'SigIgn') & ~(3n << 31n), 0n);
  });

  it('no fd of ours goes to the child but its stdio', async () => {
    const [r, w] = makePipe();
    try {
      const fds = (await run('ls', ['/proc/self/fd'])).stdout.split('\n').filter(Boolean).map(Number);
      assert.ok(!fds.includes(r) && !fds.includes(w), `the child has ${fds.join(',')}`);
    } finally {
      closeSync(r);
      closeSync(w);
    }
  });

  it('setsid: a session of its own; reaped once waited for', async () => {
    const child = vforkSpawn('sh', ['-c', 'cat /proc/self/stat'], { stdio: ['ignore', 'pipe', 'ignore'], setsid: true });
    let out = '';
    child.pipes[1]!.on('data', (c: Buffer) => (out += c.toString()));
    await new Promise((resolve) => child.pipes[1]!.once('close', resolve));
    assert.deepEqual(await child.wait(), { code: 0, signal: null });
    // Fields after the command: state, ppid, pgrp, session.
    const [, , pgrp, session] = out.slice(out.lastIndexOf(')') + 2).split(' ');
    assert.equal(Number(session), child.pid);
    assert.equal(Number(pgrp), child.pid);
    await assert.rejects(readFile(`/proc/${child.pid}/stat`), { code: 'ENOENT' });
  });

  it('a file that is not there: ENOENT, as spawn; runToEnd rejects with it, never throws', async () => {
    assert.throws(() => vforkSpawn('/nonexistent/coracle-test', [], { stdio: ['ignore'] }), { code: 'ENOENT' });
    assert.throws(() => vforkSpawn('coracle-test-not-on-path', [], { stdio: ['ignore'] }), { code: 'ENOENT' });
    // Callers write runToEnd(...).catch(wrap): a synchronous throw would skip their wrap.
    let pending: Promise<unknown> | undefined;
    assert.doesNotThrow(() => (pending = run('/nonexistent/coracle-test', [])));
    await assert.rejects(pending!, { code: 'ENOENT' });
  });

  it('many at once are all reaped with their own codes, and the reaping stops with the last', async () => {
    const codes = await Promise.all(Array.from({ length: 40 }, (_, i) => run('sh', ['-c', `exit ${i}`]).then((r) => r.code)));
    assert.deepEqual(codes, Array.from({ length: 40 }, (_, i) => i));
    // The SIGCHLD listener and the backing timer come and go together: none left.
    assert.equal(process.listenerCount('SIGCHLD'), 0, 'the reaping stopped once every child was reaped');
  });
});
