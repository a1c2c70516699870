import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { ByteBudget } from '../../src/streaming/byte-budget.js';
import { FrameDecoder, FrameEncoder, RstStatus, type Frame } from '../../src/streaming/spdy-frames.js';
import { SpdySession, type SpdyLimitEvent, type SpdyStream } from '../../src/streaming/spdy-session.js';
import { onCleanup } from '../helpers/cleanup.js';

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

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await new Promise((r) => setImmediate(r))) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

/**
 * A SPDY connection whose client reads nothing, in process over loopback TCP: the server's
 * session holds what it queues for the client at its cap, tells every stream to hold its
 * source, refuses a new stream, and lets go once the client reads, with every byte intact.
 */
describe('streaming: outbound bytes for a client that does not read', () => {
  it('the connection holds at its cap, refuses new streams with REFUSED_STREAM, and goes on when the client reads', async () => {
    const produced = { bytes: 0, by: new Map<number, number>() };
    /** Per stream: how many times it was told to hold its source, and to let it go. */
    const holds = new Map<number, number>();
    const releases = new Map<number, number>();
    const sources: Readable[] = [];
    const limits: SpdyLimitEvent[] = [];
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
        sources.push(source((s.id - 1) / 2, produced));
        sources[sources.length - 1]!.pipe(s);
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

    await until('the connection to hold', () => limits.some((l) => l.kind === 'outbound'));
    assert.equal(holds.size, STREAMS, 'every stream was told to hold its source');
    // What the server took from its sources and has not passed to the kernel: at most the cap,
    // plus for each stream its write in progress and what its paused source read ahead.
    const inDaemon = (): number => produced.bytes - (serverSocket!.bytesWritten - serverSocket!.writableLength);
    for (let i = 0; i < 200; i++) {
      assert.ok(inDaemon() < CAP + STREAMS * 3 * CHUNK, `${inDaemon()} bytes held for a client that reads nothing`);
      await new Promise((r) => setImmediate(r));
    }

    // A stream opened while the connection holds is refused. It lets go at half its cap, and
    // may sit below it with every source paused behind a write waiting for the socket's
    // 'drain': a stream that comes then is accepted and fed like the others, one write more
    // toward the cap, and another is tried.
    let late = 2 * STREAMS + 1;
    const refusedIds = (): number[] => limits.map((l) => /^stream (\d+) refused/.exec(l.message)?.[1]).filter((x) => x !== undefined).map(Number);
    while (refusedIds().length === 0) {
      const id = late;
      late += 2;
      client.write(enc.synStream(id, { n: 'late' }, true));
      await until(`stream ${id} to be refused, or accepted and written to`, () => refusedIds().includes(id) || produced.by.has((id - 1) / 2));
      assert.ok(late < 2 * STREAMS + 1 + 2 * (CAP / CHUNK + 4), 'refused once the connection holds its cap');
    }

    // The client reads: the refusal comes, the sources go on, every byte is as sent.
    const decoder = new FrameDecoder(256 << 10);
    const got = new Map<number, number>();
    const resets: Frame[] = [];
    let corrupt = '';
    client.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        if (f.type === 'rst_stream') resets.push(f);
        if (f.type !== 'data') continue;
        const n = (f.streamId - 1) / 2;
        const at = got.get(f.streamId) ?? 0;
        for (let i = 0; i < f.data.length && !corrupt; i++) if (f.data[i] !== ((n + at + i) & 0xff)) corrupt = `stream ${f.streamId} byte ${at + i}`;
        got.set(f.streamId, at + f.data.length);
      }
    });
    client.resume();
    await until('the refusals and more than the cap of data again on every stream', () => resets.length === refusedIds().length && got.size === sources.length && [...got.values()].every((v) => v > CAP));
    assert.deepEqual(
      resets,
      refusedIds().map((streamId) => ({ type: 'rst_stream', streamId, status: RstStatus.REFUSED_STREAM })),
    );
    assert.ok([...holds.keys()].every((id) => (releases.get(id) ?? 0) >= 1), 'every source was let go again');
    assert.equal(corrupt, '', 'no byte lost or out of order');
    for (const r of sources) r.destroy();
    server!.destroy();
  });
});
