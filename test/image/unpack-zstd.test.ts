import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compress } from 'zstd-napi';
import { unpackLayer } from '../../src/image/unpack.js';
import { zstdDecompressed } from '../../src/image/zstd-stream.js';
import { tempDir } from '../helpers/daemon.js';
import { buildLayer, type LayerEntry } from '../helpers/images.js';

/** Path → kind, mode, owner and content hash, for every entry under `root`. */
async function listTree(root: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(join(root, rel))).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(root, path));
    const what = st.isSymbolicLink()
      ? `link->${await readlink(join(root, path))}`
      : st.isFile()
        ? `file:${createHash('sha256').update(await readFile(join(root, path))).digest('hex')}`
        : st.isDirectory()
          ? 'dir'
          : `other:${st.rdev}`;
    out[path] = `${what} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (st.isDirectory()) Object.assign(out, await listTree(root, path));
  }
  return out;
}

async function unpackBlob(blob: Buffer): Promise<{ dir: string; diffId: string }> {
  const work = await tempDir();
  await writeFile(join(work, 'blob'), blob);
  await mkdir(join(work, 'fs'));
  const result = await unpackLayer({ blob: join(work, 'blob'), target: join(work, 'fs'), parents: [], lowerComplete: true });
  return { dir: join(work, 'fs'), diffId: result.diffId };
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A zstd frame header (RFC 8878 §3.1.1): no checksum, no content size, window 2^windowLog. */
function frameHeader(windowLog: number): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt32LE(0xfd2fb528, 0);
  head[4] = 0x00; // frame header descriptor: not single-segment, no checksum, no dictionary
  head[5] = (windowLog - 10) << 3; // window descriptor: exponent, mantissa 0
  return head;
}

/** A block header: 3 bytes, little-endian: last flag, type (0 raw, 1 RLE), size. */
function blockHeader(type: 0 | 1, size: number, last: boolean): Buffer {
  const v = (size << 3) | (type << 1) | (last ? 1 : 0);
  return Buffer.from([v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff]);
}

/** Repeats a few kinds of line, so that zstd has matches to make and a flipped byte breaks them. */
function text(lines: number): string {
  const words = ['layer', 'image', 'snapshot', 'overlay', 'digest', 'manifest', 'registry'];
  return Array.from({ length: lines }, (_, i) => `${i % 97} ${words[i % 7]} ${words[(i * 3) % 7]} ${'x'.repeat(i % 13)}\n`).join('');
}

const ENTRIES: LayerEntry[] = [
  { type: 'dir', path: 'etc', mode: 0o755 },
  { type: 'file', path: 'etc/hello', content: 'hello from a zstd layer\n', mode: 0o644, uid: 1000, gid: 1000 },
  { type: 'file', path: 'etc/text', content: text(20_000) },
  { type: 'file', path: 'big', content: Buffer.alloc(3 << 20, 7), mode: 0o600 },
  { type: 'symlink', path: 'etc/link', target: 'hello' },
  { type: 'hardlink', path: 'etc/hello2', target: 'etc/hello' },
  { type: 'whiteout', path: 'gone' },
];

describe('image/unpack: zstd layers', function () {
  this.timeout(60_000);

  it('unpacks a zstd layer to the same tree as its gzip twin, the diff_id over the tar', async () => {
    const gzip = await buildLayer(ENTRIES);
    const expected = await listTree((await unpackBlob(gzip.blob)).dir);
    for (const level of [1, 3, 19]) {
      const layer = await buildLayer(ENTRIES, { compression: 'zstd', zstdLevel: level });
      assert.equal(layer.tar.compare(gzip.tar), 0);
      const { dir, diffId } = await unpackBlob(layer.blob);
      assert.equal(diffId, layer.diffId, `level ${level}`);
      assert.equal(diffId, gzip.diffId, `level ${level}`);
      assert.deepEqual(await listTree(dir), expected, `level ${level}`);
    }
  });

  it('reads concatenated frames and skips skippable frames, as zstd -d does', async () => {
    const layer = await buildLayer(ENTRIES, { compression: 'none' });
    const cut = 12_345;
    const skippable = Buffer.alloc(8 + 5);
    skippable.writeUInt32LE(0x184d2a50, 0);
    skippable.writeUInt32LE(5, 4);
    const blob = Buffer.concat([compress(layer.tar.subarray(0, cut)), skippable, compress(layer.tar.subarray(cut), { compressionLevel: 9 })]);
    const { diffId } = await unpackBlob(blob);
    assert.equal(diffId, sha(layer.tar));
  });

  it('a corrupt frame is a precise error, never a crash', async () => {
    const layer = await buildLayer(ENTRIES, { compression: 'zstd' });
    const bad = Buffer.from(layer.blob);
    for (let i = 0; i < 16; i++) bad[Math.floor(bad.length / 3) + i * 7] ^= 0x5a;
    await assert.rejects(unpackBlob(bad), /^Error: layer blob: (entry "[^"]+": )?zstd: \S.*$/);
    const garbage = Buffer.concat([frameHeader(20).subarray(0, 4), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]);
    await assert.rejects(unpackBlob(garbage), /layer blob: zstd: .+/);
  });

  it("a frame whose checksum does not match its content fails with libzstd's checksum error", async () => {
    const layer = await buildLayer(ENTRIES, { compression: 'zstd' });
    // buildLayer sets the checksum flag: the frame ends with 4 bytes of XXH64 of the content.
    const bad = Buffer.from(layer.blob);
    bad[bad.length - 1]! ^= 0xff;
    await assert.rejects(unpackBlob(bad), /^Error: layer blob: (entry "[^"]+": )?zstd: .*checksum/);
  });

  it('a truncated layer fails as one', async () => {
    const layer = await buildLayer(ENTRIES, { compression: 'zstd' });
    for (const at of [4, 9, Math.floor(layer.blob.length / 2), layer.blob.length - 1]) {
      await assert.rejects(unpackBlob(layer.blob.subarray(0, at)), /layer blob: (entry "[^"]+": )?zstd: unexpected end of data: the stream ends inside a frame/, `cut at ${at}`);
    }
  });

  it('a frame may ask for a window up to 2^27 bytes, libzstd\'s default, and no more', async () => {
    const tar = (await buildLayer([{ type: 'file', path: 'w', content: 'windowed\n' }], { compression: 'none' })).tar;
    assert.ok(tar.length <= 128 << 10);
    const frame = (windowLog: number): Buffer => Buffer.concat([frameHeader(windowLog), blockHeader(0, tar.length, true), tar]);
    assert.equal((await unpackBlob(frame(27))).diffId, sha(tar));
    for (const windowLog of [28, 31, 41]) {
      await assert.rejects(unpackBlob(frame(windowLog)), /layer blob: zstd: Frame requires too much memory for decoding/, `2^${windowLog}`);
    }
  });

  it('a bomb is decoded only as fast as it is read: memory stays bounded', async () => {
    // 1 MiB of RLE blocks, 4 bytes each for 128 KiB out: 32 GiB in all.
    const blocks = (1 << 20) / 4;
    const parts = [frameHeader(17)];
    for (let i = 0; i < blocks; i++) parts.push(blockHeader(1, 128 << 10, i === blocks - 1), Buffer.from([0x41]));
    const bomb = Buffer.concat(parts);
    const expected = Buffer.alloc(128 << 10, 0x41);
    async function* source(): AsyncGenerator<Buffer> {
      yield bomb;
    }
    const before = process.memoryUsage().arrayBuffers;
    let chunks = 0;
    let bytes = 0;
    let peak = 0;
    for await (const chunk of zstdDecompressed(source())) {
      assert.ok(chunk.length <= 128 << 10, `chunk of ${chunk.length} bytes`);
      assert.ok(chunk.equals(expected.subarray(0, chunk.length)));
      bytes += chunk.length;
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
      if (++chunks === 2048) break; // 256 MiB read
    }
    assert.equal(bytes, 256 << 20);
    // Decoding ahead of the reader would have queued 32 GiB (or died trying) before the first
    // chunk came out; what is held is the input, the buffers read and what GC has yet to free.
    assert.ok(peak < 512 << 20, `array buffers grew by ${peak} bytes`);
  });
});
