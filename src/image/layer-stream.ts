import type { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { createGunzip } from 'node:zlib';

/** A layer blob as the bytes of its tar: decompressed, and hashed on the way for its diff_id. */

/** Sniffs the compression from the blob's first bytes: media types are not always right. */
export function decompressed(blob: string): AsyncIterable<Buffer> {
  const fd = openSync(blob, 'r');
  const head = Buffer.alloc(4);
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  const raw = createReadStream(blob, { highWaterMark: 1 << 20 });
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip({ chunkSize: 1 << 17 });
    // pipe() leaves the source open when the gunzip is destroyed (an unpack given up).
    gunzip.on('close', () => raw.destroy());
    raw.on('error', (err) => gunzip.destroy(err));
    return raw.pipe(gunzip);
  }
  if (head.readUInt32LE(0) === 0xfd2fb528) {
    raw.destroy();
    throw new Error('zstd-compressed layers are not supported yet');
  }
  return raw;
}

export async function* hashing(source: AsyncIterable<Buffer>, hash: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    hash.update(chunk);
    yield chunk;
  }
}
