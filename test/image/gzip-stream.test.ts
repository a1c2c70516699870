import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { gunzipped } from '../../src/image/gzip-stream.js';
import { chunked, collect } from '../helpers/byte-streams.js';

/** A gzip member of `data` whose header has the given flag fields (RFC 1952 §2.3), as gzip writers make them. */
function member(data: Buffer, fields: { extra?: Buffer; name?: string; comment?: string; hcrc?: boolean } = {}): Buffer {
  const plain = gzipSync(data);
  const flags = (fields.hcrc ? 0x02 : 0) | (fields.extra ? 0x04 : 0) | (fields.name !== undefined ? 0x08 : 0) | (fields.comment !== undefined ? 0x10 : 0);
  const head = Buffer.from(plain.subarray(0, 10));
  head[3] = flags;
  const parts: Buffer[] = [head];
  if (fields.extra) parts.push(Buffer.from([fields.extra.length & 0xff, fields.extra.length >> 8]), fields.extra);
  if (fields.name !== undefined) parts.push(Buffer.from(`${fields.name}\0`, 'latin1'));
  if (fields.comment !== undefined) parts.push(Buffer.from(`${fields.comment}\0`, 'latin1'));
  if (fields.hcrc) parts.push(Buffer.from([0x12, 0x34]));
  parts.push(plain.subarray(10));
  return Buffer.concat(parts);
}

/** `blob` with `bytes` written at `at` (from its end when negative). */
function patched(blob: Buffer, at: number, bytes: number[]): Buffer {
  const b = Buffer.from(blob);
  Buffer.from(bytes).copy(b, at < 0 ? b.length + at : at);
  return b;
}

describe('image/gzip-stream: gunzipped', () => {
  const data = Buffer.concat([randomBytes(200_000), Buffer.from('text, and more text '.repeat(20_000))]);
  const small = Buffer.from('a small file, in a small layer\n'.repeat(40));

  const valid: [string, Buffer, Buffer][] = [
    ['one member', gzipSync(data), data],
    ['an empty member', gzipSync(Buffer.alloc(0)), Buffer.alloc(0)],
    ['members one after the other', Buffer.concat([gzipSync(small), gzipSync(data), gzipSync(small)]), Buffer.concat([small, data, small])],
    // As eStargz makes them: a member a file.
    ['2000 small members', Buffer.concat(Array.from({ length: 2000 }, () => gzipSync(small))), Buffer.concat(Array.from({ length: 2000 }, () => small))],
    ['a header with extra field, name, comment and header CRC', member(data, { extra: randomBytes(300), name: 'layer.tar', comment: 'made here', hcrc: true }), data],
    ['an empty name and comment', member(small, { name: '', comment: '' }), small],
    ['zeros after the last member (padding)', Buffer.concat([gzipSync(small), Buffer.alloc(70_000)]), small],
    // The CRC-32 is not checked (the diff_id's sha256 checks the bytes): a wrong one is no error.
    ['a member whose CRC-32 is wrong', patched(gzipSync(small), -8, [0xde, 0xad, 0xbe, 0xef]), small],
  ];
  for (const [name, blob, want] of valid) {
    it(`reads ${name}, whatever the chunks, and reads its source to the end`, async () => {
      for (const size of [1, 7, 4096, 65536, blob.length]) {
        // Chunks a turn of the event loop apart too: the inflate ends its output while the next is awaited.
        for (const pause of [false, true]) {
          if (size < 4096 && blob.length > (pause ? 2_000 : 20_000)) continue;
          const log: string[] = [];
          assert.ok((await collect(gunzipped(chunked(blob, size, { log, pause })))).equals(want), `chunks of ${size}, pause ${String(pause)}`);
          assert.deepEqual(log, ['ended', 'closed']);
        }
      }
    });
  }

  it('reads a member whose deflate data ends in one chunk and whose trailer and next member come a turn later', async () => {
    const two = Buffer.concat([gzipSync(data), gzipSync(small)]);
    const first = gzipSync(data).length;
    for (const cut of [first - 8, first - 5, first, first + 3]) {
      const source = (async function* () {
        yield two.subarray(0, cut);
        await new Promise((r) => setTimeout(r, 5));
        yield two.subarray(cut);
      })();
      assert.ok((await collect(gunzipped(source))).equals(Buffer.concat([data, small])), `cut at ${cut}`);
    }
  });

  const good = gzipSync(small);
  const invalid: [string, Buffer, RegExp][] = [
    ['no gzip magic', patched(good, 0, [0x1f, 0x8c]), /^Error: gzip: incorrect header check$/],
    ['another method than deflate', patched(good, 2, [7]), /^Error: gzip: unknown compression method 7$/],
    ['reserved flags', patched(good, 3, [0x20]), /^Error: gzip: reserved header flags are set$/],
    ['a header cut short', good.subarray(0, 6), /^Error: gzip: unexpected end of data in the header$/],
    ['a name never ended', Buffer.concat([member(small, { name: 'x' }).subarray(0, 10), Buffer.from('no end')]), /^Error: gzip: unexpected end of data in the header$/],
    ['an extra field cut short', member(small, { extra: randomBytes(100) }).subarray(0, 60), /^Error: gzip: unexpected end of data in the header$/],
    ['deflate data cut short', good.subarray(0, 20), /unexpected end of file/],
    ['a trailer cut short', good.subarray(0, good.length - 3), /^Error: gzip: unexpected end of data in the trailer$/],
    ['a length that is not the data', patched(good, -4, [1, 0, 0, 0]), /^Error: gzip: the trailer gives another length$/],
    ['corrupt deflate data', patched(good, 10, [0xff, 0xff, 0xff]), /invalid/],
    ['bytes after a member that are not one', Buffer.concat([good, Buffer.from('trailing garbage')]), /incorrect header check/],
    ['a second member cut short', Buffer.concat([good, good.subarray(0, 30)]), /unexpected end of file/],
    ['bytes after the padding', Buffer.concat([good, Buffer.alloc(100), Buffer.from('x')]), /^Error: gzip: data after the padding that ends the last member$/],
  ];
  for (const [name, blob, error] of invalid) {
    it(`refuses ${name}`, async () => {
      for (const size of [1, 5, blob.length]) {
        const log: string[] = [];
        await assert.rejects(collect(gunzipped(chunked(blob, size, { log }))), error, `chunks of ${size}`);
        assert.ok(log.includes('closed'), `chunks of ${size}: the source is closed`);
      }
    });
  }

  it('makes what Node makes of any members, in any chunks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 5000 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 3000 }),
        async (datas, size) => {
          const blob = Buffer.concat(datas.map((d) => gzipSync(d, { level: d.length % 10 })));
          assert.ok((await collect(gunzipped(chunked(blob, size)))).equals(gunzipSync(blob)));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a reader that stops early closes the source, and the source failing fails the reader', async () => {
    const log: string[] = [];
    for await (const chunk of gunzipped(chunked(gzipSync(data), 4096, { log }))) {
      assert.ok(chunk.length > 0);
      break;
    }
    assert.deepEqual(log, ['closed']);
    const failing = (async function* () {
      yield gzipSync(data).subarray(0, 1000);
      throw new Error('its download failed');
    })();
    await assert.rejects(collect(gunzipped(failing)), /its download failed/);
  });
});
