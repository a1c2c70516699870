import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobFeed, type FeedState } from '../../src/image/blob-feed.js';
import { blobChunks, FollowedBlob } from '../../src/image/blob-chunks.js';
import { FileContentStore } from '../../src/image/content-store.js';
import { tempDir } from '../helpers/daemon.js';

const run = promisify(execFile);
const MiB = 1 << 20;
const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function store(): Promise<FileContentStore> {
  const s = new FileContentStore(join(await tempDir(), 'content'));
  await s.init();
  return s;
}

/** `data` in chunks of 64 KiB, as a socket gives them. */
async function* chunks(data: Buffer, fail?: Error): AsyncGenerator<Buffer> {
  for (let off = 0; off < data.length; off += 65536) yield data.subarray(off, off + 65536);
  if (fail) throw fail;
}

describe('image/content-store: a download followed by a feed', () => {
  it('opens the feed on the ingest file, tells what is on disk as it goes, and that it was verified before the blob is in place', async () => {
    const s = await store();
    const data = randomBytes(3 * MiB + 1000);
    const feed = new BlobFeed();
    const seen: FeedState[] = [];
    feed.subscribe((st) => seen.push(st));
    let onDisk = 0;
    feed.subscribe((st) => {
      if (st.end) return;
      // What the feed says is written is in the file already.
      onDisk = st.written;
    });
    await s.ingest(digestOf(data), data.length, async () => chunks(data), feed);
    const written = seen.filter((st) => !st.end).map((st) => st.written);
    assert.ok(written.length >= 3, `told at each 1 MiB write: ${written.join(', ')}`);
    assert.deepEqual([...written].sort((a, b) => a - b), written, 'never backwards');
    assert.equal(onDisk, data.length);
    assert.deepEqual(seen.at(-1), { written: data.length, end: 'verified' });
    // The fd the feed opened reads the whole blob, now under its digest, as an unpack reads it.
    const fd = await feed.opened;
    const parts: Buffer[] = [];
    for await (const c of blobChunks(fd, new FollowedBlob(feed.state))) parts.push(c);
    assert.ok(Buffer.concat(parts).equals(data));
    feed.close();
    // Its full MiBs were written, and read, past the page cache: only its last page is cached.
    const blob = s.path(digestOf(data));
    const { stdout } = await run('fincore', ['--bytes', '--noheadings', '--output', 'RES', blob]);
    assert.ok(Number(stdout.trim()) <= 64 * 1024, `${stdout.trim()} bytes of the blob cached`);
    assert.ok((await readFile(blob)).equals(data));
  });

  for (const [what, data, digest, fail, message] of [
    ['a wrong digest', randomBytes(MiB), digestOf(Buffer.from('other')), undefined, /downloaded content has digest/],
    ['a broken connection', randomBytes(2 * MiB), undefined, new Error('socket hang up'), /socket hang up/],
  ] as const) {
    it(`${what} fails the feed, and leaves no file`, async () => {
      const s = await store();
      const feed = new BlobFeed();
      await assert.rejects(s.ingest(digest ?? digestOf(data), data.length, async () => chunks(data, fail), feed), message);
      assert.equal(feed.state.end, 'failed');
      feed.close();
      assert.deepEqual(await readdir(join(s.path(digestOf(data)), '..')), []);
    });
  }

  it('a feed given to a download already under way, or to a blob in the store, never opens', async () => {
    const s = await store();
    const data = randomBytes(MiB);
    const first = new BlobFeed();
    const second = new BlobFeed();
    await Promise.all([s.ingest(digestOf(data), data.length, async () => chunks(data), first), s.ingest(digestOf(data), data.length, async () => chunks(data), second)]);
    const third = new BlobFeed();
    await s.ingest(digestOf(data), data.length, async () => chunks(data), third);
    assert.equal(first.state.end, 'verified');
    for (const f of [second, third]) {
      assert.deepEqual(f.state, { written: 0 });
      f.close();
    }
    first.close();
  });
});
