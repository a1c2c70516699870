import type { createHash } from 'node:crypto';
import { gunzipped } from './gzip-stream.js';
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
      yield* gunzipped(whole());
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
