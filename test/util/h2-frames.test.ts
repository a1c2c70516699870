import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DATA,
  DEFAULT_MAX_FRAME,
  FRAME_SIZE_ERROR,
  frame,
  frame32,
  frameHeader,
  FrameReader,
  HEADERS,
  PREFACE,
  ProtocolError,
  RST_STREAM,
  SETTINGS,
  settingsFrame,
  WINDOW_UPDATE,
} from '../../src/util/h2-frames.js';

/** Frames read from `bytes` (after the preface) handed over in pieces cut at `cuts`. */
function readAll(bytes: Buffer, cuts: number[] = [], maxFrame = DEFAULT_MAX_FRAME): { type: number; flags: number; stream: number; payload: Buffer }[] {
  const reader = new FrameReader(maxFrame);
  const out = [];
  let from = 0;
  for (const at of [...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]) {
    for (const f of reader.push(bytes.subarray(from, at))) out.push({ ...f, payload: Buffer.from(f.payload) });
    from = at;
  }
  return out;
}

const withPreface = (...frames: Buffer[]): Buffer => Buffer.concat([PREFACE, ...frames]);

describe('util/h2-frames: the frame codec', () => {
  const headers: { name: string; length: number; type: number; flags: number; stream: number; bytes: number[] }[] = [
    { name: 'an empty SETTINGS on stream 0', length: 0, type: SETTINGS, flags: 0, stream: 0, bytes: [0, 0, 0, 4, 0, 0, 0, 0, 0] },
    { name: 'a 1-byte DATA on stream 1', length: 1, type: DATA, flags: 1, stream: 1, bytes: [0, 0, 1, 0, 1, 0, 0, 0, 1] },
    { name: 'lengths past one and two bytes', length: 0x01_02_03, type: HEADERS, flags: 4, stream: 0x01_00, bytes: [1, 2, 3, 1, 4, 0, 0, 1, 0] },
    { name: 'the largest length and stream id', length: 0xff_ff_ff, type: DATA, flags: 0, stream: 2 ** 31 - 1, bytes: [0xff, 0xff, 0xff, 0, 0, 0x7f, 0xff, 0xff, 0xff] },
    { name: 'a stream id over 2^24', length: 16384, type: DATA, flags: 0, stream: 2 ** 24 + 2, bytes: [0, 0x40, 0, 0, 0, 1, 0, 0, 2] },
  ];
  for (const h of headers) {
    it(`frameHeader: ${h.name}`, () => {
      assert.deepEqual([...frameHeader(h.length, h.type, h.flags, h.stream)], h.bytes);
    });
  }

  const values: { name: string; value: number; bytes: number[] }[] = [
    { name: '0', value: 0, bytes: [0, 0, 0, 0] },
    { name: 'one byte', value: 0x7f, bytes: [0, 0, 0, 0x7f] },
    { name: 'every byte', value: 0x01_02_03_04, bytes: [1, 2, 3, 4] },
    { name: 'the largest window increment', value: 2 ** 31 - 1, bytes: [0x7f, 0xff, 0xff, 0xff] },
    { name: 'the top bit set', value: 2 ** 32 - 1, bytes: [0xff, 0xff, 0xff, 0xff] },
  ];
  for (const v of values) {
    it(`frame32: ${v.name}, big-endian after a 4-byte header`, () => {
      assert.deepEqual([...frame32(RST_STREAM, 3, v.value)], [0, 0, 4, RST_STREAM, 0, 0, 0, 0, 3, ...v.bytes]);
    });
  }

  it('settingsFrame: each pair as 2 bytes of id and 4 of value', () => {
    assert.deepEqual([...settingsFrame([[3, 1000], [4, 2 ** 31 - 1]])], [0, 0, 12, SETTINGS, 0, 0, 0, 0, 0, 0, 3, 0, 0, 3, 0xe8, 0, 4, 0x7f, 0xff, 0xff, 0xff]);
  });

  it('FrameReader: the reserved bit of a stream id is dropped', () => {
    const f = frameHeader(0, WINDOW_UPDATE, 0, 5);
    f[5]! |= 0x80;
    assert.deepEqual(readAll(withPreface(f)), [{ type: WINDOW_UPDATE, flags: 0, stream: 5, payload: Buffer.alloc(0) }]);
  });

  it('FrameReader: a frame longer than the limit is FRAME_SIZE_ERROR, one at the limit is read', () => {
    assert.equal(readAll(withPreface(frame(DATA, 0, 1, Buffer.alloc(100))), [], 100)[0]!.payload.length, 100);
    assert.throws(
      () => readAll(withPreface(frameHeader(101, DATA, 0, 1)), [], 100),
      (err: unknown) => err instanceof ProtocolError && err.code === FRAME_SIZE_ERROR && /101 bytes, over the 100 allowed/.test(err.message),
    );
  });

  it('FrameReader: not the preface is refused, however little of it has come', () => {
    assert.throws(() => new FrameReader().push(Buffer.from('GET / HTTP/1.1\r\n')), /bad connection preface/);
    assert.throws(() => new FrameReader().push(Buffer.from('PRX')), /bad connection preface/);
    assert.deepEqual(new FrameReader().push(PREFACE.subarray(0, 5)), []);
  });

  it('FrameReader: any frames, cut anywhere, are read back as written', () => {
    const frameArb = fc.record({
      type: fc.integer({ min: 0, max: 255 }),
      flags: fc.integer({ min: 0, max: 255 }),
      stream: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      payload: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    });
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 6 }), fc.array(fc.nat({ max: 2000 }), { maxLength: 8 }), (frames, cuts) => {
        const bytes = withPreface(...frames.map((f) => frame(f.type, f.flags, f.stream, f.payload)));
        assert.deepEqual(readAll(bytes, cuts), frames.map((f) => ({ ...f })));
      }),
      { numRuns: 300 },
    );
  });
});
