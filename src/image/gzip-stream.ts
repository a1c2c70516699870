import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createInflateRaw } from 'node:zlib';
import { ChunkReader } from '../util/chunk-reader.js';

/**
 * gzip decompression of a layer blob (RFC 1952), without the CRC-32 of each member's trailer.
 *
 * Why not Node's Gunzip: it computes that CRC-32 over every byte it inflates, and a layer's
 * bytes are checked already, better: the blob was hashed against its digest as it was
 * downloaded, and the tar is hashed as it is unpacked (its diff_id, sha256), which must match
 * the image config's before the snapshot is kept. The CRC was 40% of Gunzip's CPU on
 * incompressible data and 20% on text (zlib alone, 25 MB: 16.5 ms against 10 raw; 14.4
 * against 11.4 for text); through the streams, a 25 MB layer of bench/pull's took 18-26 ms of
 * CPU through Gunzip and 11-14 here. Node exposes no way to skip it (zlib's inflateValidate), and the npm gzip readers
 * inflate in JavaScript (pako, fflate: slower than zlib), hence this reader: the header by
 * hand, the deflate data through Node's raw inflate (zlib, on libuv's pool as Gunzip), the
 * trailer's length checked.
 *
 * Only a blob's first member is read so: a layer is most often one member, and each member
 * read here costs a raw inflate stream of its own (about 0.1 ms: 10,000 members of 1.4 KB
 * took 1.0-1.2 s against Gunzip's 0.07), where an eStargz layer has one member a file. What
 * follows the first member, if anything but zeros (padding, as Gunzip takes it), goes to
 * Node's Gunzip, which reads members one after the other. Memory stays bounded whatever the
 * header holds: its name and comment are skipped, not kept.
 */

const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
const FRESERVED = 0xe0;
const ZEROS = Buffer.alloc(64 * 1024);

function allZero(b: Buffer): boolean {
  for (let off = 0; off < b.length; off += ZEROS.length) {
    const end = Math.min(b.length, off + ZEROS.length);
    if (b.compare(ZEROS, 0, end - off, off, end) !== 0) return false;
  }
  return true;
}

async function header(input: ChunkReader): Promise<void> {
  const h = await input.exactly(10, 'header');
  if (h[0] !== 0x1f || h[1] !== 0x8b) throw new Error('gzip: incorrect header check');
  if (h[2] !== 8) throw new Error(`gzip: unknown compression method ${String(h[2])}`);
  const flags = h[3]!;
  if (flags & FRESERVED) throw new Error('gzip: reserved header flags are set');
  if (flags & FEXTRA) await input.skip((await input.exactly(2, 'header')).readUInt16LE(0), 'header');
  if (flags & FNAME) await input.skipPast(0, 'header');
  if (flags & FCOMMENT) await input.skipPast(0, 'header');
  if (flags & FHCRC) await input.skip(2, 'header');
}

/**
 * A member's deflate data, inflated; returns how many bytes it made, with the input just past
 * the deflate data. The raw inflate ends its output where the deflate data ends; how much of
 * the input it used is its `bytesWritten`, and what it was given past that is read again.
 */
async function* inflated(input: ChunkReader): AsyncGenerator<Buffer, number> {
  // Output in 1 MiB buffers: zlib inflates on the thread pool, one round trip per buffer, and
  // at 128 KiB those round trips cost more than the inflating (a 25 MB layer: 22-45 ms of CPU
  // and 50-100 ms of wall time, against 13-22 ms and 16-23 ms).
  const inflate = createInflateRaw({ chunkSize: 1 << 20 });
  /** The chunks given to the inflate that it may not have used whole; `fedFrom`: where the first one starts. */
  const fed: Buffer[] = [];
  let fedFrom = 0;
  let fedTotal = 0;
  let stop = false;
  const ended = (): boolean => stop || inflate.destroyed || inflate.readableEnded;
  const feeding = (async (): Promise<void> => {
    for (;;) {
      const c = await input.chunk();
      // The data ends before the deflate data does: the inflate says so ("unexpected end of file").
      if (!c) return void (ended() || inflate.end());
      // Kept whether written or not: what the inflate does not use is read again.
      fed.push(c);
      fedTotal += c.length;
      if (ended()) return;
      // One chunk at a time: what the inflate did not use is never more than the last one or two.
      try {
        await new Promise<void>((resolve, reject) => inflate.write(c, (err) => (err ? reject(err) : resolve())));
      } catch (err) {
        // Written as the reader, at the deflate data's end, destroyed the stream.
        if (ended()) return;
        throw err;
      }
      while (fed.length > 0 && fedFrom + fed[0]!.length <= inflate.bytesWritten) fedFrom += fed.shift()!.length;
      // The deflate data ended in what was written: no more is read, and the rest is given back.
      if (inflate.bytesWritten < fedTotal) return;
    }
  })();
  feeding.catch((err: unknown) => inflate.destroy(err as Error));
  let made = 0;
  try {
    for await (const out of inflate as AsyncIterable<Buffer>) {
      made += out.length;
      yield out;
    }
  } finally {
    stop = true;
  }
  await feeding;
  let used = inflate.bytesWritten - fedFrom;
  const left: Buffer[] = [];
  for (const c of fed) {
    if (used < c.length) left.push(c.subarray(used));
    used = Math.max(0, used - c.length);
  }
  // Most often the end of one chunk: given back as it is, not copied (a layer of many small
  // members would copy the rest of its chunk once a member).
  input.unread(left.length === 1 ? left[0]! : Buffer.concat(left));
  return made;
}

/** Node's Gunzip over `source`, pulled as the consumer reads. */
async function* nodeGunzip(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  // Output in 1 MiB buffers, as in inflated().
  const gunzip = createGunzip({ chunkSize: 1 << 20 });
  // A failure of either side (the source's, the gunzip's) destroys both, and ends the
  // for-await below with it; a consumer that stops early destroys the gunzip, which ends
  // the source.
  pipeline(Readable.from(source, { objectMode: false }), gunzip).catch(() => undefined);
  yield* gunzip as AsyncIterable<Buffer>;
}

/** The decompressed bytes of the gzip members in `source`. Fails on corrupt or truncated data, or a length mismatch. */
export async function* gunzipped(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const input = new ChunkReader(source[Symbol.asyncIterator](), (where) => new Error(`gzip: unexpected end of data in the ${where ?? 'data'}`));
  try {
    await header(input);
    const made = yield* inflated(input);
    // CRC-32 (not checked: see above), then the length modulo 2^32.
    const trailer = await input.exactly(8, 'trailer');
    if (trailer.readUInt32LE(4) !== made % 2 ** 32) throw new Error('gzip: the trailer gives another length');
    const next = await input.chunk();
    if (!next) return;
    input.unread(next);
    if (next[0] !== 0) {
      yield* nodeGunzip(input.rest());
      return;
    }
    // Padding: zeros to the end.
    for await (const c of input.rest()) {
      if (!allZero(c)) throw new Error('gzip: data after the padding that ends the last member');
    }
  } finally {
    await input.close();
  }
}
