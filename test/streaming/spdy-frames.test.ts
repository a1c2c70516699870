import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { deflateSync, inflateSync, constants } from 'node:zlib';
import { FrameDecoder, FrameEncoder, HEADER_DICTIONARY, headerBlock, parseHeaderBlock, type Frame } from '../../src/streaming/spdy-frames.js';
import { rawSynStream } from '../helpers/stream-attacks.js';

/** Consecutive pieces of one data frame joined, as the session sees them in the end. */
function joinData(frames: Frame[]): Frame[] {
  const out: Frame[] = [];
  let open = false;
  for (const f of frames) {
    const last = out[out.length - 1];
    if (open && f.type === 'data' && last?.type === 'data' && last.streamId === f.streamId) out[out.length - 1] = { ...last, fin: f.fin, data: Buffer.concat([last.data, f.data]) };
    else out.push(f);
    open = f.type === 'data' && !f.fin;
  }
  return out;
}


describe('streaming: SPDY/3.1 frames', () => {
  it('the header dictionary is the one zlib peers know by its adler32', () => {
    // adler32 as RFC 1950 defines it.
    let a = 1;
    let b = 0;
    for (const byte of HEADER_DICTIONARY) {
      a = (a + byte) % 65521;
      b = (b + a) % 65521;
    }
    assert.equal(((b << 16) | a) >>> 0, 0xe3c6a7c2);
    assert.equal(HEADER_DICTIONARY.length, 1423);
  });

  it('round-trips every frame kind, with header compression carried across frames', () => {
    const enc = new FrameEncoder();
    const cases: [Buffer, Frame][] = [
      [enc.synStream(1, { streamtype: 'error' }), { type: 'syn_stream', streamId: 1, fin: false, unidirectional: false, headers: { streamtype: 'error' } }],
      [enc.synStream(3, { streamtype: 'stdin', port: '80' }, true), { type: 'syn_stream', streamId: 3, fin: true, unidirectional: false, headers: { streamtype: 'stdin', port: '80' } }],
      [enc.synReply(3, {}), { type: 'syn_reply', streamId: 3, fin: false, headers: {} }],
      [enc.data(3, Buffer.from('hello')), { type: 'data', streamId: 3, fin: false, data: Buffer.from('hello') }],
      [enc.data(5, Buffer.alloc(0), true), { type: 'data', streamId: 5, fin: true, data: Buffer.alloc(0) }],
      [enc.rstStream(7, 5), { type: 'rst_stream', streamId: 7, status: 5 }],
      [enc.ping(9), { type: 'ping', id: 9 }],
      [enc.goAway(11, 0), { type: 'goaway', lastGoodStreamId: 11, status: 0 }],
    ];
    const dec = new FrameDecoder();
    const wire = Buffer.concat(cases.map(([b]) => b));
    // Fed a few bytes at a time, as a socket may deliver them.
    const got: Frame[] = [];
    for (let i = 0; i < wire.length; i += 7) got.push(...dec.push(wire.subarray(i, i + 7)));
    assert.deepEqual(joinData(got), cases.map(([, f]) => f));
  });

  it('header blocks are zlib with the SPDY dictionary, sync-flushed per frame', () => {
    const enc = new FrameEncoder();
    const first = enc.synReply(1, { streamtype: 'data', requestid: '0' });
    const block = first.subarray(12);
    const plain = inflateSync(block, { dictionary: HEADER_DICTIONARY, finishFlush: constants.Z_SYNC_FLUSH });
    assert.deepEqual(parseHeaderBlock(plain), { streamtype: 'data', requestid: '0' });
    assert.deepEqual(parseHeaderBlock(headerBlock({ A: 'x' })), { a: 'x' }, 'names go lower case');
  });

  it('refuses what is not SPDY/3', () => {
    const dec = new FrameDecoder();
    const v2 = Buffer.from([0x80, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1]);
    assert.throws(() => dec.push(v2), /SPDY version 2/);
    const huge = Buffer.from([0x80, 0x03, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff]);
    assert.throws(() => new FrameDecoder().push(huge), /control frame of/);
  });

  it('caps an inflated header block: a 32 KiB bomb stops at the cap, and the decoder refuses all after', () => {
    const bomb = deflateSync(Buffer.alloc(32 << 20), { dictionary: HEADER_DICTIONARY, level: 9 });
    assert.ok(bomb.length < 64 << 10, `the bomb is ${bomb.length} bytes on the wire`);
    const dec = new FrameDecoder();
    assert.throws(() => dec.push(rawSynStream(1, bomb)), /header block inflates past 262144 bytes/);
    assert.throws(() => dec.push(new FrameEncoder().ping(1)), /inflates past/, 'a failed decoder stays failed');

    // The cap is the decoder's own: a block of 2 KiB passes a cap of 4 KiB, not one of 1 KiB.
    const headers = { streamtype: 'data', big: 'x'.repeat(2000) };
    assert.deepEqual(new FrameDecoder(4096).push(new FrameEncoder().synStream(1, headers)), [{ type: 'syn_stream', streamId: 1, fin: false, unidirectional: false, headers }]);
    assert.throws(() => new FrameDecoder(1024).push(new FrameEncoder().synStream(1, headers)), /inflates past 1024 bytes/);
  });

  it('caps a control frame at the header cap plus its fixed fields, before it is buffered', () => {
    const head = Buffer.from([0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00]);
    head.writeUIntBE((256 << 10) + 1025, 5, 3);
    assert.throws(() => new FrameDecoder().push(head), /control frame of 263169 bytes \(at most 263168\)/);
    head.writeUIntBE(2048, 5, 3);
    assert.throws(() => new FrameDecoder(512).push(head), /control frame of 2048 bytes/);
  });

  it('hands a data frame out as it arrives: a 16 MiB frame is never held whole', () => {
    const enc = new FrameEncoder();
    const payload = Buffer.alloc((16 << 20) - 1, 7);
    const wire = Buffer.concat([enc.data(9, payload, true), enc.ping(3)]);
    const dec = new FrameDecoder();
    const pieces: Frame[] = [];
    for (let i = 0; i < wire.length; i += 65536) {
      const out = dec.push(wire.subarray(i, i + 65536));
      for (const f of out) if (f.type === 'data') assert.ok(f.data.length <= 65536, `a piece of ${f.data.length} bytes`);
      pieces.push(...out);
    }
    const data = pieces.filter((f): f is Extract<Frame, { type: 'data' }> => f.type === 'data');
    assert.ok(data.length > 200, 'in pieces');
    assert.ok(data.slice(0, -1).every((f) => !f.fin && f.streamId === 9), 'FIN only on the last piece');
    assert.equal(data[data.length - 1]!.fin, true);
    assert.equal(data.reduce((n, f) => n + f.data.length, 0), payload.length);
    assert.deepEqual(pieces[pieces.length - 1], { type: 'ping', id: 3 });
  });

  it('puts a control frame trickled in byte by byte together with linear copying', () => {
    // Random bytes do not compress: the frame on the wire is about as large as its headers.
    const headers = { streamtype: 'error', big: randomBytes(250 << 10).toString('latin1') };
    const wire = Buffer.concat([new FrameEncoder().synStream(1, headers), new FrameEncoder().ping(5)]);
    assert.ok(wire.length > 250 << 10, `a frame of ${wire.length} bytes`);
    const dec = new FrameDecoder();
    const got: Frame[] = [];
    for (let i = 0; i < wire.length; i++) got.push(...dec.push(Buffer.from(wire.subarray(i, i + 1))));
    assert.deepEqual(got, [
      { type: 'syn_stream', streamId: 1, fin: false, unidirectional: false, headers },
      { type: 'ping', id: 5 },
    ]);
    // Each byte copied about once (the frame head twice), not the frame so far at every byte.
    assert.ok(dec.bytesCopied < 2 * wire.length, `${dec.bytesCopied} bytes copied for ${wire.length} received`);
  });
});
