import { closeSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { isErrno } from '../errors.js';
import { alignedBuffer, alignUp, DIRECT_IO_ALIGN, endDirect, isDirect, openForDirectReading } from '../util/direct-io.js';
import { BULK_COLLECT_BYTES, YoungCollector } from '../util/young-collector.js';
import type { FeedState } from './blob-feed.js';

/** The most read at once: the decoders and the tar reader take any size. */
const READ_BYTES = 1 << 20;

/** The message of an unpack ended because the download it followed failed (see blob-feed.ts). */
export const FEED_FAILED = 'its download failed';

/**
 * The worker's side of a BlobFeed: the feed's states as the daemon's thread posts them, and a
 * wait for the next one.
 */
export class FollowedBlob {
  private current: FeedState;
  private wake: (() => void) | undefined;

  constructor(initial: FeedState) {
    this.current = initial;
  }

  update(s: FeedState): void {
    this.current = s;
    this.wake?.();
    this.wake = undefined;
  }

  get state(): FeedState {
    return this.current;
  }

  changed(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }
}

/**
 * A blob's bytes, read with pread in chunks of up to 1 MiB: from `blob`, a file in the content
 * store, to its end; or, with `follow`, from the fd of one being downloaded, up to what the
 * feed says is written, until it is verified (the end) or has failed (an error). Reads are
 * synchronous: this runs in an unpack worker, whose thread does nothing else.
 *
 * The file is read past the page cache (util/direct-io.ts) where its fd allows: each read into
 * an aligned Buffer of its own, at an aligned offset, for a length rounded up (a read past what
 * is written is cut to it: only the last, partial batch ends unaligned, and nothing is written
 * after it). A read that cannot be aligned, or that the file system refuses, turns direct I/O
 * off on the fd and is made through the page cache.
 */
export async function* blobChunks(blob: string | number, follow?: FollowedBlob): AsyncGenerator<Buffer> {
  const fd = typeof blob === 'number' ? blob : openForDirectReading(blob);
  try {
    // Each read is a Buffer of its own, dead once the unpack has used it (util/young-collector.ts).
    const young = new YoungCollector(BULK_COLLECT_BYTES);
    let direct = isDirect(fd);
    for (let pos = 0; ; ) {
      const { written, end } = follow?.state ?? { written: Infinity, end: 'verified' };
      if (end === 'failed') throw new Error(FEED_FAILED);
      if (pos >= written) {
        if (end === 'verified') return;
        await follow!.changed();
        continue;
      }
      const want = Math.min(READ_BYTES, written - pos);
      let buf: Buffer | undefined;
      let n = 0;
      if (direct && pos % DIRECT_IO_ALIGN === 0) {
        buf = alignedBuffer(alignUp(want));
        try {
          n = Math.min(readSync(fd, buf, 0, buf.length, pos), want);
        } catch (err) {
          if (!isErrno(err, 'EINVAL')) throw err;
          buf = undefined;
        }
      }
      if (!buf) {
        if (direct) endDirect(fd);
        direct = false;
        buf = Buffer.allocUnsafe(want);
        n = readSync(fd, buf, 0, buf.length, pos);
      }
      if (n === 0) {
        if (!follow) return;
        throw new Error(`blob: ended at ${pos} bytes, ${written} were written`);
      }
      pos += n;
      young.add(n);
      yield n === buf.length ? buf : buf.subarray(0, n);
    }
  } finally {
    if (typeof blob !== 'number') closeSync(fd);
  }
}

/** `sha256:…` for a content-store blob or ingest file (`<hex>-<suffix>`), the file's name otherwise. */
export function blobName(blob: string): string {
  const name = basename(blob);
  const hex = /^([a-f0-9]{64})(-[a-f0-9]+)?$/.exec(name)?.[1];
  return hex ? `sha256:${hex}` : name;
}
