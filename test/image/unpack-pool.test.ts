import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { UnpackPool } from '../../src/image/unpack-pool.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/daemon.js';
import { buildLayer } from '../helpers/images.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);
const POOL = fileURLToPath(new URL('../../src/image/unpack-pool.js', import.meta.url));

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

  it('unpacks without a process warning: the fds it opens through koffi are closed quietly', async () => {
    const work = await tempDir();
    const files = Array.from({ length: 40 }, (_, i) => ({ type: 'file' as const, path: `d${i % 4}/f${i}`, content: `file ${i}` }));
    const layer = await buildLayer([{ type: 'symlink', path: 'link', target: 'd0/f0' }, ...files]);
    await writeFile(join(work, 'blob'), layer.blob);
    await mkdir(join(work, 'fs'));
    // In a process of its own, to see all of its stderr: the workers' warnings go there.
    const script =
      `const { UnpackPool } = await import(${JSON.stringify(POOL)}); const pool = new UnpackPool(1, 100);` +
      `const r = await pool.unpack({ blob: ${JSON.stringify(join(work, 'blob'))}, target: ${JSON.stringify(join(work, 'fs'))}, parents: [], lowerComplete: true });` +
      `await pool.close(); console.log(r.diffId);`;
    // A file, not -e: workers take the parent's execArgv, and --input-type is refused there.
    await writeFile(join(work, 'run.mjs'), script);
    const { stdout, stderr } = await run(process.execPath, [join(work, 'run.mjs')]);
    assert.equal(stdout.trim(), layer.diffId);
    assert.equal(stderr, '', 'no warning (it was one per closed fd: "closed but not opened in unmanaged mode")');
    assert.deepEqual((await readdir(join(work, 'fs'))).sort(), ['d0', 'd1', 'd2', 'd3', 'link']);
  });
});
