import type { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { zstdDecompressed } from './zstd-stream.js';

/** A layer blob as the bytes of its tar: decompressed, and hashed on the way for its diff_id. */

/** A zstd frame's first four bytes, little-endian (RFC 8878 §3.1.1). */
const ZSTD_MAGIC = 0xfd2fb528;

/**
 * Sniffs the compression from the blob's first bytes: media types are not always right (a
 * tar+gzip type on a zstd blob, a docker-save layer.tar of either), so every layer media
 * type, the nondistributable ones too, goes through here: gzip, zstd or a plain tar.
 */
export async function* decompressed(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let have = 0;
  let ended = false;
  try {
    while (have < 4) {
      const next = await it.next();
      if (next.done) {
        ended = true;
        break;
      }
      head.push(next.value);
      have += next.value.length;
    }
    // The chunks read to sniff, then the rest of the source.
    const whole = async function* (): AsyncGenerator<Buffer> {
      yield* head;
      if (!ended) yield* { [Symbol.asyncIterator]: () => it };
    };
    const first = Buffer.concat(head, have);
    if (have >= 2 && first[0] === 0x1f && first[1] === 0x8b) {
      // Output in 1 MiB buffers: node's zlib inflates on the thread pool, one round trip per
      // buffer, and at 128 KiB those round trips cost more than the inflating (a 25 MB layer:
      // 22-45 ms of CPU and 50-100 ms of wall time, against 13-22 ms and 16-23 ms).
      const gunzip = createGunzip({ chunkSize: 1 << 20 });
      // A failure of either side (the source's, the gunzip's) destroys both, and ends the
      // for-await below with it; a consumer that stops early destroys the gunzip, which ends
      // the source (and closes its file).
      pipeline(Readable.from(whole(), { objectMode: false }), gunzip).catch(() => undefined);
      yield* gunzip;
    } else if (have >= 4 && first.readUInt32LE(0) === ZSTD_MAGIC) {
      yield* zstdDecompressed(whole());
    } else {
      yield* whole();
    }
  } finally {
    await it.return?.();
  }
}

export async function* hashing(source: AsyncIterable<Buffer>, hash: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    hash.update(chunk);
    yield chunk;
  }
}
