import { closeSync, read } from 'node:fs';
import { basename } from 'node:path';
import { promisify } from 'node:util';
import { isErrno } from '../errors.js';
import { alignedBuffer, alignUp, DIRECT_IO_ALIGN, endDirect, isDirect, openForDirectReading } from '../util/direct-io.js';
import { BULK_COLLECT_BYTES, YoungCollector } from '../util/young-collector.js';
import type { FeedState } from './blob-feed.js';

/** The most read at once: the decoders and the tar reader take any size. */
const READ_BYTES = 1 << 20;

/** The message of an unpack ended because the download it followed failed (see blob-feed.ts). */
export const FEED_FAILED = 'its download failed';

/**
 * The worker's side of a BlobFeed: the feed's states as the daemon's thread posts them, with
 * the bytes of the writes it hands over, and a wait for the next state. It tells the daemon's
 * thread how far the unpack has read (`consumed`, shared memory), which hands bytes over only
 * while the unpack is close behind (unpack-pool.ts; HANDED_AHEAD_MAX in blob-feed.ts).
 */
export class FollowedBlob {
  private current: FeedState;
  private wake: (() => void) | undefined;
  /** Bytes handed over, in file order, not yet read. */
  private readonly handed: { start: number; data: Buffer }[] = [];

  /** @param consumed where this unpack has read to, for the daemon's thread to see (one element). */
  constructor(
    initial: FeedState,
    private readonly consumed?: BigInt64Array,
  ) {
    this.current = initial;
  }

  /** A new state; with `bytes`, the write that ends at `s.written`, handed over. */
  update(s: FeedState, bytes?: Uint8Array): void {
    if (bytes && bytes.length > 0) this.handed.push({ start: s.written - bytes.length, data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length) });
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

  /** The unpack has read up to `pos`; the handed bytes before it are let go. */
  readTo(pos: number): void {
    if (this.consumed) Atomics.store(this.consumed, 0, BigInt(pos));
    while (this.handed.length > 0 && this.handed[0]!.start + this.handed[0]!.data.length <= pos) this.handed.shift();
  }

  /** The handed bytes from `pos` on, if they start there. */
  take(pos: number): Buffer | undefined {
    const h = this.handed[0];
    if (!h || h.start > pos) return undefined;
    this.handed.shift();
    return h.data.subarray(pos - h.start);
  }

  /** Where the next bytes handed over start: a read from the file stops there. */
  get nextHanded(): number {
    return this.handed[0]?.start ?? Infinity;
  }
}

/** pread through libuv's pool. */
const pread = promisify(read);

/** A read of the blob's file: its buffer and the bytes read into it. */
interface Read {
  buf: Buffer;
  n: number;
}

/**
 * A blob's bytes in chunks of up to 1 MiB: from `blob`, a file in the content store, to its
 * end; or, with `follow`, from the fd of one being downloaded, up to what the feed says is
 * written, until it is verified (the end) or has failed (an error). A followed download's
 * writes handed over are taken as they are; the rest is read from the file.
 *
 * Reads go through libuv's pool, one ahead of the chunk being used: the file is read past the
 * page cache (util/direct-io.ts), so each read waits for the disk (about 1.3 ms a MiB here),
 * and made in line they kept an unpack worker waiting for almost half of bench/pull's zstd
 * pull. Where its fd allows, each read is into an aligned Buffer of its own, at an aligned
 * offset, for a length rounded up (a read past what is written is cut to it: only the last,
 * partial batch ends unaligned, and nothing is written after it). A read that cannot be
 * aligned, or that the file system refuses, turns direct I/O off on the fd and is made through
 * the page cache.
 */
export async function* blobChunks(blob: string | number, follow?: FollowedBlob): AsyncGenerator<Buffer> {
  const fd = typeof blob === 'number' ? blob : openForDirectReading(blob);
  let direct = isDirect(fd);
  const readAt = async (pos: number, want: number): Promise<Read> => {
    if (direct && pos % DIRECT_IO_ALIGN === 0) {
      const buf = alignedBuffer(alignUp(want));
      try {
        return { buf, n: Math.min((await pread(fd, buf, 0, buf.length, pos)).bytesRead, want) };
      } catch (err) {
        if (!isErrno(err, 'EINVAL')) throw err;
      }
    }
    if (direct) endDirect(fd);
    direct = false;
    const buf = Buffer.allocUnsafe(want);
    return { buf, n: (await pread(fd, buf, 0, want, pos)).bytesRead };
  };
  /** The bytes to read at `pos`: up to what is written, and to the next bytes handed over. */
  const wanted = (pos: number, written: number): number => Math.min(READ_BYTES, written - pos, (follow?.nextHanded ?? Infinity) - pos);
  let ahead: { pos: number; read: Promise<Read> } | undefined;
  try {
    // Each chunk is a Buffer of its own, dead once the unpack has used it (util/young-collector.ts).
    const young = new YoungCollector(BULK_COLLECT_BYTES);
    for (let pos = 0; ; ) {
      const { written, end } = follow?.state ?? { written: Infinity, end: 'verified' };
      if (end === 'failed') throw new Error(FEED_FAILED);
      follow?.readTo(pos);
      const given = follow?.take(pos);
      if (given) {
        pos += given.length;
        young.add(given.length);
        yield given;
        continue;
      }
      if (pos >= written) {
        if (end === 'verified') return;
        await follow!.changed();
        continue;
      }
      // The read ahead, made when less may have been written: it is a shorter chunk, no more.
      const read = ahead?.pos === pos ? ahead.read : undefined;
      if (ahead && !read) await ahead.read.catch(() => undefined);
      ahead = undefined;
      const { buf, n } = await (read ?? readAt(pos, wanted(pos, written)));
      if (n === 0) {
        if (!follow) return;
        throw new Error(`blob: ended at ${pos} bytes, ${written} were written`);
      }
      pos += n;
      young.add(n);
      const next = wanted(pos, written);
      if (next > 0) {
        const nextRead = readAt(pos, next);
        // Its failure is met when it is awaited, or dropped with it.
        nextRead.catch(() => undefined);
        ahead = { pos, read: nextRead };
      }
      yield n === buf.length ? buf : buf.subarray(0, n);
    }
  } finally {
    // The fd is not closed (here, or by the feed after the unpack) under a read still going.
    if (ahead) await ahead.read.catch(() => undefined);
    if (typeof blob !== 'number') closeSync(fd);
  }
}

/** `sha256:…` for a content-store blob or ingest file (`<hex>-<suffix>`), the file's name otherwise. */
export function blobName(blob: string): string {
  const name = basename(blob);
  const hex = /^([a-f0-9]{64})(-[a-f0-9]+)?$/.exec(name)?.[1];
  return hex ? `sha256:${hex}` : name;
}
