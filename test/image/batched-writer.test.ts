import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { open, readdir, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { BatchedWriter } from '../../src/image/batched-writer.js';
import { FileContentStore } from '../../src/image/content-store.js';
import { openDirectForWriting } from '../../src/util/direct-io.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/daemon.js';

const run = promisify(execFile);
const MODULE = fileURLToPath(new URL('../../src/image/batched-writer.js', import.meta.url));
const MiB = 1 << 20;

/**
 * Writes `chunks` to `file` through a BatchedWriter, the full batches through `direct` if
 * given (`true`: the file opened again with O_DIRECT), each write told to `onWritten`.
 */
async function writeChunks(file: string, chunks: Buffer[], direct?: FileHandle | true, onWritten?: (total: number, batch: Buffer) => void): Promise<void> {
  const fh = await open(file, 'wx');
  const directFh = direct === true ? await openDirectForWriting(file) : direct;
  if (direct === true) assert.ok(directFh, 'the temp dir has direct I/O');
  try {
    const out = new BatchedWriter(fh, onWritten, directFh);
    try {
      for (const c of chunks) await out.add(c);
      await out.end();
    } finally {
      await out.settled();
    }
  } finally {
    if (direct === true) await directFh?.close();
    await fh.close();
  }
}

/** The bytes of `file` in the page cache. */
async function cachedBytes(file: string): Promise<number> {
  return Number((await run('fincore', ['--bytes', '--noheadings', '--output', 'RES', file])).stdout.trim());
}

/** A tmpfs of `size` at a new temp dir, unmounted after the test. */
async function smallTmpfs(size: string): Promise<string> {
  const dir = await tempDir();
  await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'coracle-test-batched', dir]);
  onCleanup(`unmount ${dir}`, () => run('umount', [dir]));
  return dir;
}

/** Records unhandled rejections while `fn` runs (and a turn after). */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', listener);
  try {
    await fn();
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('unhandledRejection', listener);
  }
  return seen;
}

describe('image/batched-writer', () => {
  for (const mode of ['buffered', 'direct'] as const) {
    it(`writes every chunk in order, whatever their sizes, and keeps none of them, ${mode} (fast-check)`, async () => {
      const dir = await tempDir();
      let n = 0;
      // Sizes around the 1 MiB batch: empty chunks, single bytes, chunks that straddle a batch.
      const size = fc.oneof(fc.constantFrom(0, 1, MiB - 1, MiB, MiB + 1, 64 * 1024), fc.integer({ min: 0, max: 300 * 1024 }));
      await fc.assert(
        fc.asyncProperty(fc.array(size, { maxLength: 24 }), async (sizes) => {
          const chunks = sizes.map((s) => randomBytes(s));
          const want = createHash('sha256').update(Buffer.concat(chunks)).digest('hex');
          const file = join(dir, `f${n++}`);
          await writeChunks(file, chunks, mode === 'direct' || undefined);
          // The caller may reuse its buffers once add() has returned.
          for (const c of chunks) c.fill(0xff);
          const got = await readFile(file);
          assert.equal(got.length, sizes.reduce((a, b) => a + b, 0));
          assert.equal(createHash('sha256').update(got).digest('hex'), want);
        }),
        { numRuns: 40 },
      );
    });
  }

  for (const mode of ['buffered', 'direct'] as const) {
    it(`a batch its listener takes (transferred to a worker) is replaced, and the file holds every byte, ${mode}`, async () => {
      const file = join(await tempDir(), 'blob');
      const chunks = Array.from({ length: 7 }, (_, i) => randomBytes(i === 6 ? 1000 : 512 * 1024));
      const told: Buffer[] = [];
      let last = 0;
      await writeChunks(file, chunks, mode === 'direct' || undefined, (total, batch) => {
        assert.equal(total - last, batch.length, 'the batch is the bytes just written');
        last = total;
        // Taken as the unpack pool takes it: its memory moves, and this side's view is emptied.
        told.push(Buffer.from(structuredClone(batch, { transfer: [batch.buffer as ArrayBuffer] })));
        assert.equal(batch.length, 0);
      });
      assert.deepEqual(
        told.map((b) => b.length),
        [MiB, MiB, MiB, 1000],
      );
      assert.ok(Buffer.concat(told).equals(Buffer.concat(chunks)));
      assert.ok((await readFile(file)).equals(Buffer.concat(chunks)));
    });
  }

  it('with a direct handle, the full batches bypass the page cache and the partial last one does not', async () => {
    const dir = await tempDir();
    const [direct, buffered] = [join(dir, 'direct'), join(dir, 'buffered')];
    const chunks = Array.from({ length: 48 }, (_, i) => Buffer.alloc(64 * 1024, i));
    chunks.push(Buffer.alloc(1000, 0xee));
    await writeChunks(direct, chunks, true);
    await writeChunks(buffered, chunks);
    // The last page (or the large folio the kernel made of it), against all 3 MiB.
    const [cachedDirect, cachedBuffered] = [await cachedBytes(direct), await cachedBytes(buffered)];
    assert.ok(cachedDirect > 0 && cachedDirect <= 64 * 1024, `${cachedDirect} bytes cached`);
    assert.ok(cachedBuffered >= 3 * MiB, `${cachedBuffered} bytes cached`);
    assert.ok((await readFile(direct)).equals(Buffer.concat(chunks)));
  });

  it('a direct handle that refuses a write (EINVAL) is tried once, and the rest goes through the page cache', async () => {
    const file = join(await tempDir(), 'blob');
    let tried = 0;
    const refusing = {
      write: async (): Promise<never> => {
        tried++;
        throw Object.assign(new Error('EINVAL: invalid argument, write'), { code: 'EINVAL' });
      },
    } as unknown as FileHandle;
    const chunks = Array.from({ length: 5 }, (_, i) => Buffer.alloc(MiB, i));
    await writeChunks(file, chunks, refusing);
    assert.equal(tried, 1);
    assert.ok((await readFile(file)).equals(Buffer.concat(chunks)));
  });

  it('8 MiB in 64 KiB chunks is 8 writes to the file, not 128 (strace)', async () => {
    const dir = await tempDir();
    const file = join(dir, 'blob');
    const trace = join(dir, 'trace');
    const script =
      `const { BatchedWriter } = await import(${JSON.stringify(MODULE)}); const { open } = await import('node:fs/promises');` +
      `const fh = await open(${JSON.stringify(file)}, 'wx'); const out = new BatchedWriter(fh);` +
      `for (let i = 0; i < 128; i++) await out.add(Buffer.alloc(65536, i)); await out.end(); await fh.close();`;
    // -P: only the calls on that file (by name or by an fd open on it), in every thread.
    await run('strace', ['-f', '-qq', '-e', 'trace=write,pwrite64,writev,pwritev,pwritev2', '-P', file, '-o', trace, process.execPath, '--input-type=module', '-e', script]);
    const writes = (await readFile(trace, 'utf8')).split('\n').filter((l) => /\b(write|pwrite64|writev|pwritev2?)\(/.test(l));
    assert.equal(writes.length, 8, writes.join('\n'));
    const data = await readFile(file);
    assert.equal(data.length, 8 * MiB);
    for (let i = 0; i < 128; i++) assert.equal(data[i * 65536 + 65535], i);
  });

  it('a write that fails (ENOSPC) is thrown to the writer, never an unhandled rejection', async () => {
    const dir = await smallTmpfs('1m');
    let caught: unknown;
    const unhandled = await unhandledDuring(async () => {
      try {
        await writeChunks(join(dir, 'big'), Array.from({ length: 64 }, () => Buffer.alloc(64 * 1024, 1)));
      } catch (err) {
        caught = err;
      }
    });
    assert.equal((caught as NodeJS.ErrnoException | undefined)?.code, 'ENOSPC');
    assert.deepEqual(unhandled, []);
  });

  it('content store: a blob that fills the disk, or whose source fails, leaves no ingest file and no blob', async () => {
    const root = await smallTmpfs('4m');
    const store = new FileContentStore(root);
    await store.init();
    const big = Buffer.alloc(6 * MiB, 2);
    const digest = `sha256:${createHash('sha256').update(big).digest('hex')}`;
    const chunks = function* (): Iterable<Buffer> {
      for (let off = 0; off < big.length; off += 64 * 1024) yield big.subarray(off, off + 64 * 1024);
    };
    const unhandled = await unhandledDuring(async () => {
      await assert.rejects(store.ingest(digest, big.length, async () => chunks()), (err: NodeJS.ErrnoException) => err.code === 'ENOSPC');
      // A source that breaks after 1.5 MiB, while a write is in flight.
      const broken = async function* (): AsyncIterable<Buffer> {
        let sent = 0;
        for (const c of chunks()) {
          if (sent >= 1.5 * MiB) throw new Error('connection reset');
          sent += c.length;
          yield c;
        }
      };
      await assert.rejects(store.ingest(digest, big.length, async () => broken()), /connection reset/);
    });
    assert.deepEqual(unhandled, []);
    assert.deepEqual(await readdir(join(root, 'ingest')), []);
    assert.equal(await store.size(digest), undefined);
  });
});
