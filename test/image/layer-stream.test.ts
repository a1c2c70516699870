import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import { decompressed } from '../../src/image/layer-stream.js';
import { chunked, collect } from '../helpers/byte-streams.js';

/** Single bytes first: the sniffing has to gather them. */
const SINGLES = 3;


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
        assert.ok((await collect(decompressed(chunked(blob, size, { log, singles: SINGLES })))).equals(tar), `chunks of ${size}`);
        assert.deepEqual(log, ['ended', 'closed']);
      }
    });
  }

  it('an empty source, or one shorter than a zstd magic, is passed as it is (the tar reader refuses it)', async () => {
    assert.equal((await collect(decompressed(chunked(Buffer.alloc(0), 10, { singles: SINGLES })))).length, 0);
    const short = Buffer.from([0x28, 0xb5, 0x2f]);
    assert.deepEqual(await collect(decompressed(chunked(short, 10, { singles: SINGLES }))), short);
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
      for await (const chunk of decompressed(chunked(blob, 4096, { log, singles: SINGLES }))) {
        assert.ok(chunk.length > 0);
        break;
      }
      assert.deepEqual(log, ['closed']);
    }
  });
});
