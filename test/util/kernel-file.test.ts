import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readKernelFile } from '../../src/util/kernel-file.js';
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
  for (const t of table) {
    it(t.name, async () => {
      const path = join(await tempDir(), 'f');
      const text = Array.from({ length: t.size }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
      await writeFile(path, text);
      if (t.ok) assert.equal(readKernelFile(path, t.max), text);
      else assert.throws(() => readKernelFile(path, t.max), /more than/);
    });
  }

  it('a proc file, which says it is 0 bytes, is read whole', () => {
    const text = readKernelFile('/proc/self/status');
    assert.match(text, /^Name:/);
    assert.match(text, /\nVmRSS:/);
  });

  it('a missing file throws its system error', async () => {
    const dir = await tempDir();
    assert.throws(() => readKernelFile(join(dir, 'none')), { code: 'ENOENT' });
  });
});
