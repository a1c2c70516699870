import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ReadPlace, readInLine, readInPool, readKernelFile } from '../../src/util/kernel-file.js';
import { tempDir } from '../helpers/daemon.js';

describe('util/kernel-file: small kernel files read whole, up to a cap', () => {
  const table: { name: string; size: number; max: number; ok: boolean }[] = [
    { name: 'empty', size: 0, max: 100, ok: true },
    { name: 'one line', size: 11, max: 100, ok: true },
    { name: 'exactly the cap', size: 100, max: 100, ok: true },
    { name: 'one byte over the cap', size: 101, max: 100, ok: false },
    { name: 'longer than the first buffer (8 KiB), under the cap', size: 20_000, max: 64 << 10, ok: true },
    { name: 'several buffers over the cap', size: 200_000, max: 64 << 10, ok: false },
  ];
  // The same answers in line, through the pool, and from the one the callers use.
  const ways: [string, (path: string, max?: number) => Promise<string>][] = [
    ['in line', async (path, max) => readInLine(path, max)],
    ['in the pool', readInPool],
    ['readKernelFile', readKernelFile],
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

  it('a proc file, which says it is 0 bytes, is read whole', async () => {
    const text = await readKernelFile('/proc/self/status');
    assert.match(text, /^Name:/);
    assert.match(text, /\nVmRSS:/);
  });

  it('a missing file rejects with its system error', async () => {
    await assert.rejects(readKernelFile(join(await tempDir(), 'none')), { code: 'ENOENT' });
  });
  it('reads go to the pool after 3 slow ones within a minute, and come back in line 5 minutes later', () => {
    // Each row: reads in line as [at ms, took ms], then whether reads are in the pool at `check`.
    const rows: { name: string; reads: [number, number][]; check: number; pool: boolean }[] = [
      { name: 'none slow', reads: [[0, 1], [10, 2], [20, 0.5]], check: 30, pool: false },
      { name: 'one slow (a preempted loop)', reads: [[0, 4.1]], check: 10, pool: false },
      { name: 'two slow', reads: [[0, 5], [1_000, 5]], check: 2_000, pool: false },
      { name: 'three slow in a minute', reads: [[0, 5], [1_000, 3], [59_000, 9]], check: 59_001, pool: true },
      { name: 'three slow over more than a minute', reads: [[0, 5], [30_000, 5], [60_000, 5]], check: 60_001, pool: false },
      { name: 'in the pool until 5 minutes have passed', reads: [[0, 5], [1, 5], [2, 5]], check: 2 + 299_999, pool: true },
      { name: 'in line again after 5 minutes', reads: [[0, 5], [1, 5], [2, 5]], check: 2 + 300_000, pool: false },
    ];
    for (const row of rows) {
      const place = new ReadPlace();
      for (const [at, took] of row.reads) place.record(at, took);
      assert.equal(place.inPool(row.check), row.pool, row.name);
    }
  });
});
