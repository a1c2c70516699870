import assert from 'node:assert/strict';
import { appendFile, writeFile } from 'node:fs/promises';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { BlobFeed, type FeedState } from '../../src/image/blob-feed.js';
import { blobChunks, blobName, FEED_FAILED, FollowedBlob } from '../../src/image/blob-chunks.js';
import { collect } from '../helpers/byte-streams.js';
import { tempDir } from '../helpers/daemon.js';

/** Whether `fd` is open in this process. */
function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

describe('image/blob-feed', () => {
  it('opens once on the ingest file, tells each change, and ends once', async () => {
    const file = join(await tempDir(), 'ingest');
    await writeFile(file, '');
    const feed = new BlobFeed();
    const seen: FeedState[] = [];
    feed.subscribe((s) => seen.push(s));
    feed.open(file);
    const fd = await feed.opened;
    assert.ok(isOpen(fd));
    feed.open(file); // a retry's file: the feed follows the first only
    feed.wrote(10);
    feed.wrote(20);
    feed.verified();
    feed.failed(); // after the end: nothing
    feed.wrote(30);
    assert.deepEqual(seen, [{ written: 10 }, { written: 20 }, { written: 20, end: 'verified' }]);
    feed.close();
    assert.ok(!isOpen(fd), 'close() closes the fd');
    assert.equal(feed.state.end, 'verified', 'a verified feed stays verified');
  });

  it('a feed closed before its download opened it is failed, and never opens', async () => {
    const file = join(await tempDir(), 'ingest');
    await writeFile(file, '');
    const feed = new BlobFeed();
    feed.close();
    assert.equal(feed.state.end, 'failed');
    feed.open(file);
    const opened = await Promise.race([feed.opened.then(() => 'opened'), new Promise((r) => setImmediate(() => r('not opened')))]);
    assert.equal(opened, 'not opened');
  });

  it('a file it cannot open fails the feed, and it never opens', async () => {
    const feed = new BlobFeed();
    feed.open(join(await tempDir(), 'not-there'));
    assert.equal(feed.state.end, 'failed');
    const opened = await Promise.race([feed.opened.then(() => 'opened'), new Promise((r) => setImmediate(() => r('not opened')))]);
    assert.equal(opened, 'not opened');
    feed.close();
  });
});

describe('image/blob-chunks', () => {
  it('reads a blob file to its end', async () => {
    const file = join(await tempDir(), 'blob');
    const data = Buffer.alloc(3 * (1 << 20) + 5, 7);
    await writeFile(file, data);
    assert.ok((await collect(blobChunks(file))).equals(data));
  });

  it('follows a file as it grows, up to what the feed says is written, until it is verified', async () => {
    const file = join(await tempDir(), 'ingest');
    await writeFile(file, '');
    const feed = new BlobFeed();
    feed.open(file);
    const follow = new FollowedBlob(feed.state);
    feed.subscribe((s) => follow.update(s));
    const read = collect(blobChunks(await feed.opened, follow));
    // Bytes beyond `written` are not read: the reader stops at what the feed has told.
    await appendFile(file, 'hello, ');
    feed.wrote(7);
    await appendFile(file, 'world');
    await new Promise((r) => setImmediate(r));
    feed.wrote(12);
    feed.verified();
    assert.equal((await read).toString(), 'hello, world');
    feed.close();
  });

  it('takes the bytes handed over as they are, reads only the rest from the file, and tells how far it has read', async () => {
    const file = join(await tempDir(), 'ingest');
    // Where bytes are handed over, the file holds something else: were it read there, it would show.
    await writeFile(file, 'xxxxefghxxxx');
    const fd = openSync(file, 'r');
    try {
      const consumed = new BigInt64Array(new SharedArrayBuffer(8));
      const follow = new FollowedBlob({ written: 0 }, consumed);
      const read = collect(blobChunks(fd, follow));
      const handed = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
      follow.update({ written: 4 }, handed('abcd'));
      await new Promise((r) => setImmediate(r));
      follow.update({ written: 8 }); // not handed: read from the file
      await new Promise((r) => setImmediate(r));
      follow.update({ written: 12, end: 'verified' }, handed('ijkl'));
      assert.equal((await read).toString(), 'abcdefghijkl');
      assert.equal(consumed[0], 12n, 'the unpack has read it all');
    } finally {
      closeSync(fd);
    }
  });

  it('bytes handed over after the part of the file they follow: the part is read, then they are taken', async () => {
    const file = join(await tempDir(), 'ingest');
    await writeFile(file, 'abcdxxxx');
    const fd = openSync(file, 'r');
    try {
      // Both told at once, the first part not handed: the read stops where the handed bytes start.
      const follow = new FollowedBlob({ written: 0 });
      follow.update({ written: 4 });
      follow.update({ written: 8, end: 'verified' }, new Uint8Array(Buffer.from('efgh')));
      assert.equal((await collect(blobChunks(fd, follow))).toString(), 'abcdefgh');
    } finally {
      closeSync(fd);
    }
  });

  it('a failed feed ends the read with FEED_FAILED, whatever was read', async () => {
    const file = join(await tempDir(), 'ingest');
    await writeFile(file, 'partial');
    const follow = new FollowedBlob({ written: 7 });
    const chunks: string[] = [];
    const read = (async () => {
      const fd = openSync(file, 'r');
      try {
        for await (const c of blobChunks(fd, follow)) chunks.push(c.toString());
      } finally {
        closeSync(fd);
      }
    })();
    await new Promise((r) => setImmediate(r));
    follow.update({ written: 7, end: 'failed' });
    await assert.rejects(read, new RegExp(`${FEED_FAILED}$`));
    assert.deepEqual(chunks, ['partial']);
  });

  it('a followed file shorter than the feed says is an error, not a short blob', async () => {
    const file = join(await tempDir(), 'ingest');
    await writeFile(file, 'abc');
    const fd = openSync(file, 'r');
    try {
      await assert.rejects(collect(blobChunks(fd, new FollowedBlob({ written: 10, end: 'verified' }))), /ended at 3 bytes, 10 were written/);
    } finally {
      closeSync(fd);
    }
  });

  const hex = 'ab'.repeat(32);
  for (const [path, name] of [
    [`/c/blobs/sha256/${hex}`, `sha256:${hex}`],
    [`/c/ingest/${hex}-0a1b2c3d`, `sha256:${hex}`],
    ['/work/blob', 'blob'],
    [`/c/${hex}-nothex`, `${hex}-nothex`],
  ] as const) {
    it(`blobName(${path.split('/').pop()!.slice(0, 12)}…) is ${name.slice(0, 12)}…`, () => assert.equal(blobName(path), name));
  }
});
