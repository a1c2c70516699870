import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ReadPlace, readFdInLine, readFdInPool, readInLine, readInPool, readKernelFds, readKernelFile } from '../../src/util/kernel-file.js';
import { tempDir } from '../helpers/daemon.js';

describe('util/kernel-file: small kernel files read whole, up to a cap', () => {
  const table: { name: string; size: number; max: number; ok: boolean }[] = [
    { name: 'empty', size: 0, max: 100, ok: true },
    { name: 'one line', size: 11, max: 100, ok: true },
    { name: 'exactly the cap', size: 100, max: 100, ok: true },
    { name: 'one byte over the cap', size: 101, max: 100, ok: false },
    { name: 'longer than the first buffer (8 KiB), under the cap', size: 20_000, max: 64 << 10, ok: true },
    { name: 'several buffers over the cap', size: 200_000, max: 64 << 10, ok: false },
    { name: 'just under the first buffer of a kept file (4095)', size: 4094, max: 64 << 10, ok: true },
    { name: 'exactly the first buffer of a kept file', size: 4095, max: 64 << 10, ok: true },
  ];
  /** A read of a file kept open, given its path: opened, read twice (the second from its start again), closed. */
  const kept =
    (read: (fd: number, max?: number) => string | Promise<string>) =>
    async (path: string, max?: number): Promise<string> => {
      const file = await open(path, 'r');
      try {
        const text = await read(file.fd, max);
        assert.equal(await read(file.fd, max), text, 'read again from its start');
        return text;
      } finally {
        await file.close();
      }
    };
  // The same answers in line, through the pool, and from the one the callers use.
  const ways: [string, (path: string, max?: number) => Promise<string>][] = [
    ['in line', async (path, max) => readInLine(path, max)],
    ['in the pool', readInPool],
    ['readKernelFile', readKernelFile],
    ['kept open, in line', kept(readFdInLine)],
    ['kept open, in the pool', kept(readFdInPool)],
    [
      'kept open, readKernelFds',
      kept(async (fd, max) => {
        const [text] = await readKernelFds([fd], max);
        if (text === undefined) throw new Error('more than the cap, or failed: undefined');
        return text;
      }),
    ],
  ];
  for (const t of table) {
    for (const [way, read] of ways) {
      it(`${t.name} (${way})`, async () => {
        const path = join(await tempDir(), 'f');
        const text = Array.from({ length: t.size }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
        await writeFile(path, text);
        if (t.ok) assert.equal(await read(path, t.max), text);
        else await assert.rejects(read(path, t.max), /more than/);
      });
    }
  }

  it('files kept open, read together: each text in order, undefined for one that fails', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'a'), 'first\n');
    await writeFile(join(dir, 'b'), 'second\n');
    const files = await Promise.all([open(join(dir, 'a'), 'r'), open(dir, 'r'), open(join(dir, 'b'), 'r')]);
    try {
      // A directory reads with EISDIR.
      assert.deepEqual(await readKernelFds(files.map((f) => f.fd)), ['first\n', undefined, 'second\n']);
      assert.deepEqual(await readKernelFds([]), []);
    } finally {
      await Promise.all(files.map((f) => f.close()));
    }
  });

  it('a proc file, which says it is 0 bytes, is read whole', async () => {
    const text = await readKernelFile('/proc/self/status');
    assert.match(text, /^Name:/);
    assert.match(text, /\nVmRSS:/);
  });

  it('a missing file rejects with its system error', async () => {
    await assert.rejects(readKernelFile(join(await tempDir(), 'none')), { code: 'ENOENT' });
  });
  it('reads go to the pool once those in line were slow on average over a minute, or one very slow; back in line 5 minutes later', () => {
    // Each row: reads in line as [at ms, took ms], then whether reads are in the pool at `check`.
    /** `n` reads of `ms` each, `every` ms apart from `from`. */
    const reads = (n: number, ms: number, every: number, from = 0): [number, number][] => Array.from({ length: n }, (_, i) => [from + i * every, ms]);
    /** A stats call of 100 pods at `from`: 500 reads of 7 µs, 20 µs apart, the ones at `slow` taking `ms`. */
    const call = (from: number, slow: number[] = [], ms = 5): [number, number][] => reads(500, 0.007, 0.02, from).map(([at, took], i) => [at, slow.includes(i) ? ms : took]);
    const rows: { name: string; reads: [number, number][]; check: number; pool: boolean }[] = [
      { name: 'none slow', reads: reads(1000, 0.01, 1), check: 1_001, pool: false },
      { name: 'one preempted read', reads: [...call(0, [10], 4.1)], check: 20, pool: false },
      { name: 'three preempted in one call (this host)', reads: [...call(0, [100, 300, 450])], check: 20, pool: false },
      { name: 'a minute of calls back to back, 2-3 preempted a second', reads: Array.from({ length: 600 }, (_, k) => call(k * 100, k % 4 === 0 ? [1, 250, 400] : [], 7)).flat(), check: 60_000, pool: false },
      { name: 'memory.stat at 1 ms (100 of 500 reads): seen at the first read of the next second', reads: [...call(0).map(([at, took], i): [number, number] => [at, i % 5 === 1 ? 1 : took]), [1_000, 0.007]], check: 1_001, pool: true },
      { name: 'few reads, slow: not yet a mean', reads: reads(20, 3, 100), check: 2_000, pool: false },
      { name: 'many reads, slow: their mean', reads: reads(120, 3, 100), check: 12_000, pool: true },
      { name: 'one read over 50 ms (a mutex held by churn)', reads: [[0, 51]], check: 1, pool: true },
      { name: 'slow reads over a minute ago', reads: [...reads(100, 1, 10), ...call(61_000)], check: 61_011, pool: false },
      { name: 'in the pool until 5 minutes have passed', reads: [[0, 60]], check: 299_999, pool: true },
      { name: 'in line again after 5 minutes', reads: [[0, 60]], check: 300_000, pool: false },
    ];
    for (const row of rows) {
      const place = new ReadPlace();
      for (const [at, took] of row.reads) place.record(at, took);
      assert.equal(place.inPool(row.check), row.pool, row.name);
    }
  });
});
