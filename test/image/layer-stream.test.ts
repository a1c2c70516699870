import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import { decompressed } from '../../src/image/layer-stream.js';

/** `data` in chunks: single bytes first (the sniffing has to gather them), then `size`-byte ones. */
function chunked(data: Buffer, size: number, log: string[] = []): AsyncGenerator<Buffer> {
  return (async function* () {
    try {
      let off = 0;
      for (; off < Math.min(3, data.length); off++) yield data.subarray(off, off + 1);
      for (; off < data.length; off += size) yield data.subarray(off, off + size);
      log.push('ended');
    } finally {
      log.push('closed');
    }
  })();
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(c);
  return Buffer.concat(parts);
}

describe('image/layer-stream: decompressed', () => {
  const tar = Buffer.concat([randomBytes(300_000), Buffer.alloc(300_000, 'a')]);
  for (const [name, blob] of [
    ['gzip', gzipSync(tar)],
    ['zstd', zstdCompress(tar)],
    ['an uncompressed tar', tar],
  ] as const) {
    it(`sniffs ${name} from its first bytes, whatever the chunks`, async () => {
      for (const size of [1000, 65536, 1 << 20]) {
        const log: string[] = [];
        assert.ok((await collect(decompressed(chunked(blob, size, log)))).equals(tar), `chunks of ${size}`);
        assert.deepEqual(log, ['ended', 'closed']);
      }
    });
  }

  it('an empty source, or one shorter than a zstd magic, is passed as it is (the tar reader refuses it)', async () => {
    assert.equal((await collect(decompressed(chunked(Buffer.alloc(0), 10)))).length, 0);
    const short = Buffer.from([0x28, 0xb5, 0x2f]);
    assert.deepEqual(await collect(decompressed(chunked(short, 10))), short);
  });

  it("the source's failure ends the decompression with it, gzip's stream too", async () => {
    const blob = gzipSync(tar);
    const failing = (async function* () {
      yield blob.subarray(0, 1000);
      throw new Error('its download failed');
    })();
    await assert.rejects(collect(decompressed(failing)), /its download failed/);
  });

  it('a reader that stops early closes the source', async () => {
    for (const blob of [gzipSync(tar), zstdCompress(tar), tar]) {
      const log: string[] = [];
      for await (const chunk of decompressed(chunked(blob, 4096, log))) {
        assert.ok(chunk.length > 0);
        break;
      }
      // gzip's pipeline closes its source a turn later.
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(log, ['closed']);
    }
  });
});
