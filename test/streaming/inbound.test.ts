import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Inbound, InboundQueue, PIECE_OVERHEAD } from '../../src/streaming/inbound.js';

describe('streaming: inbound queue', () => {
  it('copies small pieces out of the read they came in, and charges each its overhead', () => {
    let charged = 0;
    const q = new InboundQueue((d) => (charged += d));
    // One byte per 64 KiB "socket read", as a client padding 1-byte frames with filler sends them.
    const reads = Array.from({ length: 1000 }, (_, i) => Buffer.alloc(64 << 10, i & 0xff));
    for (const r of reads) q.append(r.subarray(100, 101));
    assert.equal(charged, q.cost);
    assert.ok(q.cost < 8 << 10, `1000 one-byte pieces charged ${q.cost} bytes`);
    const out: Buffer[] = [];
    for (let p = q.take(); p; p = q.take()) out.push(p);
    assert.equal(charged, 0, 'all charged back once taken');
    assert.deepEqual(Buffer.concat(out), Buffer.from(reads.map((_, i) => i & 0xff)));
    for (const p of out) assert.ok(p.buffer.byteLength <= 8 << 10, `a piece holds a buffer of ${p.buffer.byteLength} bytes`);

    // A large piece that is a view is copied too; one that is its own buffer is kept.
    const whole = Buffer.from(Buffer.alloc(4096, 1));
    q.append(Buffer.alloc(64 << 10).subarray(0, 2048));
    q.append(whole);
    assert.equal(q.cost, 2048 + 4096 + 2 * PIECE_OVERHEAD);
    assert.ok(q.take()!.buffer.byteLength <= 8 << 10, 'copied out of its 64 KiB read');
    assert.equal(q.take(), whole);
    q.append(Buffer.from('x'));
    q.clear();
    assert.equal(charged, 0);
  });

  it('feeds a Readable in order, to its end, only when it is read', async () => {
    let charged = 0;
    let inbound!: Inbound;
    const r = new Readable({ highWaterMark: 0, read: () => inbound.want() });
    inbound = new Inbound((c) => r.push(c), (d) => (charged += d));
    const sent: Buffer[] = [];
    for (let i = 0; i < 5000; i++) {
      const b = Buffer.from(`${i},`.repeat(i % 7 === 0 ? 600 : 1));
      sent.push(b);
      inbound.feed(b);
    }
    assert.ok(charged > 0, 'held while nobody reads');
    inbound.end();
    const sink = new PassThrough();
    const got: Buffer[] = [];
    sink.on('data', (c: Buffer) => got.push(c));
    await pipeline(r, sink);
    assert.deepEqual(Buffer.concat(got), Buffer.concat(sent));
    assert.equal(charged, 0);
  });
});
