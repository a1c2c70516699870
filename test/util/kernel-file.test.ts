import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readInLine, readInPool, readKernelFile } from '../../src/util/kernel-file.js';
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
});
