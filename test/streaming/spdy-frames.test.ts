import assert from 'node:assert/strict';
import { inflateSync, constants } from 'node:zlib';
import { FrameDecoder, FrameEncoder, HEADER_DICTIONARY, headerBlock, parseHeaderBlock, type Frame } from '../../src/streaming/spdy-frames.js';

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
    assert.deepEqual(got, cases.map(([, f]) => f));
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
});
