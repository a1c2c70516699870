import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { ByteBudget } from '../../src/streaming/byte-budget.js';
import { FrameDecoder, FrameEncoder, type Frame } from '../../src/streaming/spdy-frames.js';
import { SpdySession, type SpdyLimitEvent, type SpdyStream } from '../../src/streaming/spdy-session.js';
import { onCleanup } from '../helpers/cleanup.js';
import { until } from '../helpers/until.js';

const CAP = 256 << 10;
const CHUNK = 16 << 10;
const STREAMS = 8;

/** An endless source for stream `n`: byte i of it is (n + i) & 0xff, so that what arrives can be checked. */
function source(n: number, produced: { bytes: number; by: Map<number, number> }): Readable {
  let at = 0;
  return new Readable({
    read() {
      const chunk = Buffer.alloc(CHUNK);
      for (let i = 0; i < CHUNK; i++) chunk[i] = (n + at + i) & 0xff;
      at += CHUNK;
      produced.bytes += CHUNK;
      produced.by.set(n, (produced.by.get(n) ?? 0) + CHUNK);
      this.push(chunk);
    },
  });
}

/**
 * A SPDY connection whose client reads nothing, in process over loopback TCP: the server's
 * session holds what it queues for the client at its cap, tells every stream to hold its
 * source, accepts a new stream with its source held (a slow client of a busy port-forward must
 * still open connections), and lets go once the client reads, with every byte intact.
 */
describe('streaming: outbound bytes for a client that does not read', () => {
  it('the connection holds at its cap, accepts a new stream held, and goes on when the client reads', async () => {
    const produced = { bytes: 0, by: new Map<number, number>() };
    /** Per stream: how many times it was told to hold its source, and to let it go. */
    const holds = new Map<number, number>();
    const releases = new Map<number, number>();
    const sources: Readable[] = [];
    const limits: SpdyLimitEvent[] = [];
    /** Per stream accepted: whether it was told to hold its source from the start. */
    const startedHeld = new Map<number, boolean>();
    let server: SpdySession | undefined;
    let serverSocket: Socket | undefined;
    const tcp: Server = createServer((sock) => {
      serverSocket = sock;
      server = new SpdySession(sock, 'server', { maxBufferedBytes: CAP }, new ByteBudget(64 << 20));
      server.on('limit', (e: SpdyLimitEvent) => limits.push(e));
      server.on('stream', (s: SpdyStream) => {
        s.reply();
        s.on('hold', () => {
          holds.set(s.id, (holds.get(s.id) ?? 0) + 1);
        });
        s.on('release', () => {
          releases.set(s.id, (releases.get(s.id) ?? 0) + 1);
        });
        // As src/netns/port-dial.ts does: a stream that starts held is not read from until 'release'.
        startedHeld.set(s.id, s.holding);
        const from = source((s.id - 1) / 2, produced);
        sources.push(from);
        if (s.holding) s.once('release', () => from.pipe(s));
        else from.pipe(s);
      });
    });
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    onCleanup('close the test server', () => {
      serverSocket?.destroy();
      tcp.close();
    });
    const client = connect({ host: '127.0.0.1', port: (tcp.address() as { port: number }).port });
    onCleanup('close the test client', () => client.destroy());
    // First of all (cleanups run newest first): an endless source piped into a stream whose
    // connection is gone would be written to without end, and starve everything else.
    onCleanup('stop the sources', () => sources.forEach((r) => r.destroy()));
    client.pause();
    const enc = new FrameEncoder();
    client.write(Buffer.concat(Array.from({ length: STREAMS }, (_, i) => enc.synStream(2 * i + 1, { n: String(i) }, true))));

    await until('the connection to hold', () => limits.some((l) => l.kind === 'outbound'), 20_000, 0);
    assert.equal(holds.size, STREAMS, 'every stream was told to hold its source');
    // What the server took from its sources and has not passed to the kernel: at most the cap,
    // plus for each stream its write in progress and what its paused source read ahead.
    const inDaemon = (): number => produced.bytes - (serverSocket!.bytesWritten - serverSocket!.writableLength);
    for (let i = 0; i < 200; i++) {
      assert.ok(inDaemon() < CAP + STREAMS * 3 * CHUNK, `${inDaemon()} bytes held for a client that reads nothing`);
      await new Promise((r) => setImmediate(r));
    }

    // A stream opened while the connection holds is accepted, its source held. The connection
    // lets go at half its cap, and may sit below it with every source paused behind a write
    // waiting for the socket's 'drain': a stream that comes then starts unheld and is fed like
    // the others, one write more toward the cap, and another is tried.
    let late = 2 * STREAMS + 1;
    const heldLate = (): number | undefined => [...startedHeld].find(([id, held]) => id > 2 * STREAMS && held)?.[0];
    while (heldLate() === undefined) {
      const id = late;
      late += 2;
      client.write(enc.synStream(id, { n: 'late' }, true));
      await until(`stream ${id} to be accepted`, () => startedHeld.has(id), 20_000, 0);
      assert.ok(late < 2 * STREAMS + 1 + 2 * (CAP / CHUNK + 4), 'a new stream starts held once the connection holds its cap');
    }
    const held = heldLate()!;

    // The client reads: the sources go on, the held stream's too, every byte is as sent.
    const decoder = new FrameDecoder(256 << 10);
    const got = new Map<number, number>();
    const replies = new Set<number>();
    const resets: Frame[] = [];
    let corrupt = '';
    client.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        if (f.type === 'rst_stream') resets.push(f);
        if (f.type === 'syn_reply') replies.add(f.streamId);
        if (f.type !== 'data') continue;
        const n = (f.streamId - 1) / 2;
        const at = got.get(f.streamId) ?? 0;
        for (let i = 0; i < f.data.length && !corrupt; i++) if (f.data[i] !== ((n + at + i) & 0xff)) corrupt = `stream ${f.streamId} byte ${at + i}`;
        got.set(f.streamId, at + f.data.length);
      }
    });
    client.resume();
    await until('more than the cap of data again on every stream, the held one too', () => got.size === sources.length && [...got.values()].every((v) => v > CAP), 20_000, 0);
    assert.ok(replies.has(held), `stream ${held} was accepted (SYN_REPLY)`);
    assert.ok((got.get(held) ?? 0) > CAP, `stream ${held}, accepted held, got its data once the client read`);
    assert.deepEqual(resets, [], 'no stream refused or reset');
    assert.ok(!limits.some((l) => /refused/.test(l.message)), 'no limit refused a stream');
    assert.ok([...holds.keys()].every((id) => (releases.get(id) ?? 0) >= 1), 'every source was let go again');
    assert.equal(corrupt, '', 'no byte lost or out of order');
    for (const r of sources) r.destroy();
    server!.destroy();
  });
});
