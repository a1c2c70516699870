import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CoracleError } from '../../src/errors.js';
import { FEED_FAILED } from '../../src/image/blob-chunks.js';
import { BlobFeed, HANDED_AHEAD_MAX } from '../../src/image/blob-feed.js';
import { UnpackPool } from '../../src/image/unpack-pool.js';
import type { UnpackResult } from '../../src/image/unpack.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/daemon.js';
import { buildLayer } from '../helpers/images.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);
const POOL = fileURLToPath(new URL('../../src/image/unpack-pool.js', import.meta.url));

/** An unpack by `pool` into `work`/fs that follows the ingest file `ingest` through a new feed. */
async function followingUnpack(pool: UnpackPool, work: string, ingest: string): Promise<{ feed: BlobFeed; unpacked: Promise<UnpackResult> }> {
  await mkdir(join(work, 'fs'));
  const feed = new BlobFeed();
  feed.open(ingest);
  const unpacked = pool.unpack({ blob: ingest, fd: await feed.opened, target: join(work, 'fs'), parents: [], lowerComplete: true }, feed);
  return { feed, unpacked };
}

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

  it('unpacks a blob as it is written, following its feed to the verified end', async () => {
    const work = await tempDir();
    const pool = new UnpackPool(1);
    onCleanup('close the unpack pool', () => pool.close());
    const files = Array.from({ length: 200 }, (_, i) => ({ type: 'file' as const, path: `d${i % 5}/f${i}`, content: `file ${i} `.repeat(200) }));
    const layer = await buildLayer(files, { compression: 'zstd' });
    const ingest = join(work, 'ingest');
    await writeFile(ingest, '');
    const { feed, unpacked } = await followingUnpack(pool, work, ingest);
    const settled = { done: false };
    void unpacked.finally(() => (settled.done = true)).catch(() => undefined);
    // The blob in four parts, each told once it is in the file: the unpack waits for the next.
    const quarter = Math.ceil(layer.blob.length / 4);
    for (let off = 0; off < layer.blob.length; off += quarter) {
      await appendFile(ingest, layer.blob.subarray(off, off + quarter));
      feed.wrote(Math.min(off + quarter, layer.blob.length));
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(settled.done, false, 'the unpack waits for the end of the feed');
    }
    feed.verified();
    const result = await unpacked;
    feed.close();
    assert.equal(result.diffId, layer.diffId);
    assert.equal(await readFile(join(work, 'fs', 'd4', 'f199'), 'utf8'), 'file 199 '.repeat(200));
  });

  it('takes the writes handed over with the feed instead of reading them back, while the unpack is within HANDED_AHEAD_MAX of them', async () => {
    const work = await tempDir();
    const pool = new UnpackPool(1);
    onCleanup('close the unpack pool', () => pool.close());
    const files = Array.from({ length: 100 }, (_, i) => ({ type: 'file' as const, path: `d${i % 5}/f${i}`, content: randomBytes(20_000) }));
    const layer = await buildLayer(files, { compression: 'zstd' });
    assert.ok(layer.blob.length < HANDED_AHEAD_MAX);
    // The ingest file stays empty: the unpack can only have its bytes from the hand-over.
    const ingest = join(work, 'ingest');
    await writeFile(ingest, '');
    const { feed, unpacked } = await followingUnpack(pool, work, ingest);
    const batches: Buffer[] = [];
    for (let off = 0; off < layer.blob.length; off += 256 * 1024) {
      // A writer's own buffer each, as BatchedWriter's: its ArrayBuffer holds nothing else.
      const part = layer.blob.subarray(off, off + 256 * 1024);
      const batch = Buffer.allocUnsafeSlow(part.length);
      part.copy(batch);
      batches.push(batch);
      feed.wrote(off + part.length, batch);
      await new Promise((r) => setTimeout(r, 5));
    }
    feed.verified();
    const result = await unpacked;
    feed.close();
    assert.equal(result.diffId, layer.diffId);
    assert.ok((await readFile(join(work, 'fs', 'd4', 'f99'))).equals(files[99]!.content));
    assert.ok(
      batches.every((b) => b.buffer.byteLength === 0),
      'every batch was transferred, not copied',
    );
  });

  it('a write more than HANDED_AHEAD_MAX beyond what the unpack has read is not handed over: it is read from the file', async () => {
    const work = await tempDir();
    const pool = new UnpackPool(1);
    onCleanup('close the unpack pool', () => pool.close());
    const layer = await buildLayer([{ type: 'file', path: 'big', content: randomBytes(HANDED_AHEAD_MAX + (1 << 20)) }]);
    const ingest = join(work, 'ingest');
    await writeFile(ingest, layer.blob);
    const { feed, unpacked } = await followingUnpack(pool, work, ingest);
    const batch = Buffer.allocUnsafeSlow(layer.blob.length);
    layer.blob.copy(batch);
    feed.wrote(layer.blob.length, batch);
    feed.verified();
    const result = await unpacked;
    feed.close();
    assert.equal(result.diffId, layer.diffId);
    assert.equal(batch.length, layer.blob.length, 'the batch stayed with its writer');
  });

  it('a feed that fails ends its unpack with FEED_FAILED, and the worker takes the next job', async () => {
    const work = await tempDir();
    const pool = new UnpackPool(1);
    onCleanup('close the unpack pool', () => pool.close());
    const layer = await buildLayer([{ type: 'file', path: 'big', content: Buffer.alloc(1 << 20, 3) }]);
    // Named as the content store names an ingest file: errors give the blob's digest.
    const ingest = join(work, `${layer.digest.slice(7)}-0a0b0c0d`);
    await writeFile(ingest, layer.blob.subarray(0, 100));
    const { feed, unpacked } = await followingUnpack(pool, work, ingest);
    feed.wrote(100);
    feed.failed();
    await assert.rejects(unpacked, (err: Error) => err.message.endsWith(FEED_FAILED) && err.message.includes(`layer ${layer.digest}`));
    feed.close();
    await writeFile(join(work, 'blob'), layer.blob);
    await mkdir(join(work, 'fs2'));
    assert.equal((await pool.unpack({ blob: join(work, 'blob'), target: join(work, 'fs2'), parents: [], lowerComplete: true })).diffId, layer.diffId);
  });

  it('close() fails the unpack it ends and the ones queued with UNAVAILABLE, and takes no more', async () => {
    const work = await tempDir();
    const pool = new UnpackPool(1);
    onCleanup('close the unpack pool', () => pool.close());
    const layer = await buildLayer([{ type: 'file', path: 'big', content: Buffer.alloc(1 << 20, 5) }]);
    const ingest = join(work, 'ingest');
    await writeFile(ingest, layer.blob.subarray(0, 100));
    await mkdir(join(work, 'fs'));
    await mkdir(join(work, 'fs2'));
    const feed = new BlobFeed();
    feed.open(ingest);
    onCleanup('close the feed', () => feed.close());
    feed.wrote(100);
    // The first waits in its worker for a download that goes no further; the second waits for the worker.
    const running = pool.unpack({ blob: ingest, fd: await feed.opened, target: join(work, 'fs'), parents: [], lowerComplete: true }, feed);
    await writeFile(join(work, 'blob'), layer.blob);
    const queued = pool.unpack({ blob: join(work, 'blob'), target: join(work, 'fs2'), parents: [], lowerComplete: true });
    await until('the first unpack to be in its worker', () => pool.workers === 1);
    const outcomes = Promise.allSettled([running, queued]);
    await pool.close();
    const closed = (err: CoracleError): boolean => err.code === 'UNAVAILABLE' && err.message === 'unpack pool closed';
    for (const outcome of await outcomes) assert.ok(outcome.status === 'rejected' && closed(outcome.reason as CoracleError), `rejected as closed: ${JSON.stringify(outcome)}`);
    assert.equal(pool.workers, 0);
    await assert.rejects(pool.unpack({ blob: join(work, 'blob'), target: join(work, 'fs2'), parents: [], lowerComplete: true }), closed);
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
