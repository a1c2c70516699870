import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UnpackPool } from '../../src/image/unpack-pool.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/daemon.js';
import { buildLayer } from '../helpers/images.js';
import { until } from '../helpers/until.js';

describe('image/unpack-pool', () => {
  it('ends a worker left idle, and starts another for the next unpack', async () => {
    const work = await tempDir();
    const pool = new UnpackPool(1, 200);
    onCleanup('close the unpack pool', () => pool.close());
    const layer = await buildLayer([{ type: 'file', path: 'etc/hello', content: 'hello' }]);
    await writeFile(join(work, 'blob'), layer.blob);
    const unpack = async (n: number): Promise<void> => {
      const target = join(work, `fs${n}`);
      await mkdir(target);
      const result = await pool.unpack({ blob: join(work, 'blob'), target, parents: [], lowerComplete: true });
      assert.equal(result.diffId, layer.diffId);
      assert.equal(await readFile(join(target, 'etc/hello'), 'utf8'), 'hello');
    };
    assert.equal(pool.workers, 0, 'no worker before the first unpack');
    await unpack(1);
    assert.equal(pool.workers, 1, 'the worker stays for a while after its unpack');
    await until('the idle worker to end', () => pool.workers === 0);
    await unpack(2);
    assert.equal(pool.workers, 1);
  });
});
