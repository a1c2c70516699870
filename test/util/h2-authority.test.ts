import assert from 'node:assert/strict';
import hpack from 'hpack.js';
import { AuthorityRewriter, authorityAccepted, fixAuthority, MAX_HEADER_BLOCK } from '../../src/util/h2-authority.js';
import { encodeHeaderBlock, HeaderBlockDecoder } from '../../src/util/hpack-block.js';
import { frame, PREFACE } from '../helpers/raw-h2-client.js';

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

function parseFrames(bytes: Buffer): Frame[] {
  const out: Frame[] = [];
  for (let at = 0; at < bytes.length; ) {
    const len = bytes.readUIntBE(at, 3);
    out.push({ type: bytes[at + 3]!, flags: bytes[at + 4]!, stream: bytes.readUInt32BE(at + 5), payload: bytes.subarray(at + 9, at + 9 + len) });
    at += 9 + len;
  }
  return out;
}

/** A client's encoder, indexing as grpc-go's does, so later blocks refer to earlier ones. */
function clientEncoder(): (headers: [string, string][]) => Buffer {
  // hpack.js's compressor has no types of ours: it is only the client's side of the test.
  const c = (hpack as unknown as { compressor: { create(o: object): { write(h: object[]): void; read(): Buffer | null } } }).compressor.create({ table: { maxSize: 4096 } });
  return (headers) => {
    c.write(headers.map(([name, value]) => ({ name, value })));
    const parts: Buffer[] = [];
    for (let b = c.read(); b !== null; b = c.read()) parts.push(b);
    return Buffer.concat(parts);
  };
}

/** What the server's decoder makes of the rewritten header frames, block by block. */
function serverView(out: Buffer): { stream: number; flags: number; headers: [string, string][] }[] {
  const d = new HeaderBlockDecoder();
  const blocks: { stream: number; flags: number; headers: [string, string][] }[] = [];
  let pending: { stream: number; flags: number; parts: Buffer[] } | undefined;
  for (const f of parseFrames(out)) {
    if (f.type === 0x1) pending = { stream: f.stream, flags: f.flags, parts: [f.flags & 0x20 ? f.payload.subarray(5) : f.payload] };
    else if (f.type === 0x9) pending!.parts.push(f.payload);
    else continue;
    if (!(f.flags & 0x4)) continue;
    const headers = d.decode(Buffer.concat(pending!.parts)).map((h): [string, string] => [h.name, h.value]);
    blocks.push({ stream: pending!.stream, flags: pending!.flags, headers });
    pending = undefined;
  }
  return blocks;
}

const request = (authority?: string): [string, string][] => [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/runtime.v1.RuntimeService/Version'],
  ...(authority === undefined ? [] : [[':authority', authority] as [string, string]]),
  ['content-type', 'application/grpc'],
  ['te', 'trailers'],
];

describe('util: HTTP/2 authority rewriting', () => {
  const cases: { name: string; authority: string | undefined; seen: string | undefined }[] = [
    { name: 'a socket path (kubelet 1.26)', authority: '/run/coracle/coracle.sock', seen: 'localhost' },
    { name: 'a normal host', authority: 'localhost', seen: 'localhost' },
    { name: 'host and port', authority: '10.0.0.5:2376', seen: '10.0.0.5:2376' },
    { name: 'an IPv6 literal', authority: '[::1]:10010', seen: '[::1]:10010' },
    { name: 'empty', authority: '', seen: 'localhost' },
    { name: 'absent', authority: undefined, seen: 'localhost' },
    { name: 'a space', authority: 'a b', seen: 'localhost' },
    { name: 'a unix: URL', authority: 'unix:///run/x.sock', seen: 'localhost' },
  ];
  for (const c of cases) {
    it(`authority ${c.name}: the server sees ${JSON.stringify(c.seen)}`, () => {
      const fixed = fixAuthority(request(c.authority).map(([name, value]) => ({ name, value })));
      assert.equal(fixed.find((h) => h.name === ':authority')?.value, c.seen);
      assert.equal(authorityAccepted(request(c.authority).map(([name, value]) => ({ name, value }))), c.seen === c.authority, 'handed over as it is');
    });
  }

  it('a host header is fixed the same way; other headers are kept as they are', () => {
    const fixed = fixAuthority([{ name: 'host', value: '/x' }, { name: 'x-path', value: '/x' }]);
    assert.deepEqual(fixed, [{ name: 'host', value: 'localhost' }, { name: 'x-path', value: '/x' }]);
    // Trailers (no :method) get none added; nghttp2 would refuse a pseudo-header there.
    assert.deepEqual(fixAuthority([{ name: 'x-trailer', value: '1' }]), [{ name: 'x-trailer', value: '1' }]);
    // With no authority at all, a request gets one after the pseudo-headers.
    assert.deepEqual(
      fixAuthority(request(undefined).map(([name, value]) => ({ name, value }))).map((h) => h.name),
      [':method', ':scheme', ':path', ':authority', 'content-type', 'te'],
    );
  });

  it('keeps the client dynamic table across blocks, byte by byte, and passes other frames untouched', () => {
    const enc = clientEncoder();
    const settings = frame(0x4, 0, 0, Buffer.alloc(6));
    const data = frame(0x0, 0x1, 1, Buffer.from('\0\0\0\0\0'));
    // Stream 1: padded and with a priority; stream 3 refers to stream 1's indexed fields.
    const block1 = enc(request('/run/coracle/coracle.sock'));
    const padded = Buffer.concat([Buffer.of(3), Buffer.alloc(5, 0), block1, Buffer.alloc(3)]);
    const block3 = enc([...request('/run/coracle/coracle.sock'), ['x-big', 'v'.repeat(20000)]]);
    const input = Buffer.concat([
      PREFACE,
      settings,
      frame(0x1, 0x8 | 0x20 | 0x4, 1, padded),
      data,
      frame(0x1, 0x1, 3, block3.subarray(0, 100)),
      frame(0x9, 0x4, 3, block3.subarray(100)),
    ]);
    const r = new AuthorityRewriter();
    const out = Buffer.concat(Array.from(input, (b) => r.push(Buffer.of(b))));
    assert.deepEqual(out.subarray(0, PREFACE.length), PREFACE);
    const frames = parseFrames(out.subarray(PREFACE.length));
    assert.deepEqual(frames[0], parseFrames(settings)[0]);
    assert.ok(frames.some((f) => f.type === 0 && f.payload.equals(parseFrames(data)[0]!.payload)));
    const blocks = serverView(out.subarray(PREFACE.length));
    assert.deepEqual(blocks.map((b) => b.stream), [1, 3]);
    assert.deepEqual(blocks[0]!.headers, request('localhost'));
    assert.equal(blocks[0]!.flags & 0x20, 0x20, 'priority kept');
    assert.deepEqual(blocks[1]!.headers, [...request('localhost'), ['x-big', 'v'.repeat(20000)]]);
    assert.equal(blocks[1]!.flags & 0x1, 0x1, 'END_STREAM kept');
    assert.ok(frames.every((f) => f.payload.length <= 16384), 'no frame over the server frame size');
  });

  it('follows the client table through its evictions: a thousand calls, each with a new indexed value', () => {
    const enc = clientEncoder();
    const r = new AuthorityRewriter();
    let out = r.push(PREFACE);
    const sent: [string, string][][] = [];
    for (let i = 0; i < 1000; i++) {
      const headers: [string, string][] = [...request('/run/coracle/coracle.sock'), ['grpc-timeout', `${1_000_000 - i}u`], ['x-call', `call-${i}-${'x'.repeat(i % 50)}`]];
      sent.push(headers);
      out = Buffer.concat([out, r.push(frame(0x1, 0x5, 1 + 2 * i, enc(headers)))]);
    }
    const blocks = serverView(out.subarray(PREFACE.length));
    assert.equal(blocks.length, 1000);
    blocks.forEach((b, i) => assert.deepEqual(b.headers, sent[i]!.map(([k, v]): [string, string] => [k, k === ':authority' ? 'localhost' : v])));
  });

  it('takes out the ACK of the daemon\'s own SETTINGS, once, and keeps the first request\'s fields', () => {
    const ack = frame(0x4, 0x1, 0, Buffer.alloc(0));
    const settings = frame(0x4, 0, 0, Buffer.alloc(6));
    const headers = frame(0x1, 0x5, 1, encodeHeaderBlock(request('localhost').map(([name, value]) => ({ name, value }))));
    const r = new AuthorityRewriter(true);
    r.push(Buffer.concat([PREFACE, settings, headers]));
    assert.equal(r.ackOffset, undefined);
    assert.deepEqual(r.firstHeaders, request('localhost').map(([name, value]) => ({ name, value })));
    const second = r.push(Buffer.concat([ack, ack]));
    assert.equal(r.ackOffset, PREFACE.length + settings.length + headers.length);
    assert.deepEqual(second, ack, 'the second ACK is the HTTP/2 server\'s own, and passes');
  });

  it('joins a header frame sent a byte at a time only once it is whole', () => {
    const block = encodeHeaderBlock([...request('/x'), ['x-big', 'y'.repeat(60_000)]].map(([name, value]) => ({ name, value })));
    const bytes = Buffer.concat([PREFACE, frame(0x1, 0x5, 1, block)]);
    const r = new AuthorityRewriter();
    const start = process.hrtime.bigint();
    const out = Buffer.concat(Array.from(bytes, (b) => r.push(Buffer.of(b))));
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.equal(serverView(out.subarray(PREFACE.length))[0]!.headers.find(([k]) => k === ':authority')![1], 'localhost');
    // Joined at each byte it would be 60 000 copies of up to 60 KB (gigabytes): seconds, not this.
    assert.ok(ms < 2000, `${ms} ms`);
  });

  const refusals: { name: string; input: () => Buffer; error: RegExp }[] = [
    { name: 'no preface', input: () => Buffer.from('GET / HTTP/1.1\r\n\r\n'), error: /no connection preface/ },
    { name: 'CONTINUATION with no HEADERS', input: () => Buffer.concat([PREFACE, frame(0x9, 0x4, 1, Buffer.alloc(1))]), error: /CONTINUATION outside/ },
    { name: 'a DATA frame inside a header block', input: () => Buffer.concat([PREFACE, frame(0x1, 0, 1, encodeHeaderBlock([])), frame(0, 0, 1, Buffer.alloc(0))]), error: /inside a header block/ },
    { name: 'a header block over the cap', input: () => Buffer.concat([PREFACE, frame(0x1, 0, 1, Buffer.alloc(16000)), ...Array.from({ length: 5 }, () => frame(0x9, 0, 1, Buffer.alloc(16000)))]), error: new RegExp(`over ${MAX_HEADER_BLOCK}`) },
    { name: 'a header frame announcing more than the cap', input: () => Buffer.concat([PREFACE, frame(0x1, 0, 1, Buffer.alloc(10)).subarray(0, 9)]).fill(0xff, PREFACE.length, PREFACE.length + 3), error: /header frame too large/ },
    { name: 'a block that does not decode', input: () => Buffer.concat([PREFACE, frame(0x1, 0x4, 1, Buffer.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff))]), error: /header block/ },
    { name: 'an index bomb past the list cap', input: () => bomb(), error: /header list over/ },
  ];
  for (const c of refusals) {
    it(`ends the connection on ${c.name}`, () => {
      assert.throws(() => new AuthorityRewriter().push(c.input()), c.error);
    });
  }
});

/** One 4 KiB entry in the dynamic table, then a block of a thousand 1-byte references to it. */
function bomb(): Buffer {
  const enc = clientEncoder();
  const first = enc([['x-a', 'a'.repeat(4000)]]);
  return Buffer.concat([PREFACE, frame(0x1, 0x4, 1, first), frame(0x1, 0x4, 3, Buffer.alloc(1000, 0x80 | 62))]);
}
