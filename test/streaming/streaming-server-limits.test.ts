import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { FrameEncoder, HEADER_DICTIONARY } from '../../src/streaming/spdy-frames.js';
import type { SpdyStream } from '../../src/streaming/spdy-session.js';
import { attackTargetEach } from '../helpers/attack-target.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { flood, pump, rawSynStream, rawWsUpgrade, resetPeakRss, rssBytes, tcpBufferMax, untilClosed, wsFrame } from '../helpers/stream-attacks.js';
import { spdyConnect, wsConnect } from '../helpers/stream-clients.js';

/** What an attack may add to the daemon's peak resident set. */
const RSS_BOUND = 64 << 20;
/**
 * The same for an attack that makes the daemon read 0.5 to 1 GiB: the socket reads it frees
 * are external memory V8 collects late (30 to 70 MiB of them seen at the peak).
 */
const ATTACK_RSS_BOUND = 128 << 20;

/**
 * Hostile streaming clients against the real daemon: each attack goes through a real socket
 * with a real token, and each test checks the daemon lived, its memory stayed bounded, and
 * an exec session on another connection went on working through it.
 */
describe('streaming/streaming-server: hostile clients are contained', function () {
  this.timeout(180_000);
  const fixture = busyboxRegistry('limits/busybox');
  const t = attackTargetEach(fixture, 'limitspod', { extra: `[streaming]\nmax_streams_per_connection = 64\n` });

  const portForwardUrl = async (port: number): Promise<string> => (await t.d.clients.runtime.PortForward({ pod_sandbox_id: t.pod, port: [port] })).url;

  /** Whether the daemon logged `text`, waiting for its log to catch up (it comes through a pipe). */
  async function logged(text: string, ms = 10_000): Promise<boolean> {
    for (const end = Date.now() + ms; !t.d.lines.some((l) => l.includes(text)); ) {
      if (Date.now() > end) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  it('a header block that inflates past the cap closes its connection only: GOAWAY, bounded memory', async () => {
    const live = await t.catSession();
    await live.echo('before');
    const bomb = deflateSync(Buffer.alloc(32 << 20), { dictionary: HEADER_DICTIONARY, level: 9 });
    const base = await resetPeakRss(t.d.proc.pid!);
    const attacks = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const { session } = await spdyConnect(await t.execUrl(['true']), ['v4.channel.k8s.io']);
        const raw: Buffer[] = [];
        session.socket.on('data', (c: Buffer) => raw.push(c));
        const closed = new Promise<void>((resolve) => session.once('close', resolve));
        session.socket.write(rawSynStream(1, bomb));
        await closed;
        return Buffer.concat(raw);
      }),
    );
    // GOAWAY (type 7), last good stream 0, status 1 (PROTOCOL_ERROR).
    const goaway = Buffer.from([0x80, 0x03, 0x00, 0x07, 0x00, 0x00, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 1]);
    for (const got of attacks) assert.ok(got.includes(goaway), `GOAWAY PROTOCOL_ERROR before the close, got ${got.toString('hex')}`);
    const peak = await rssBytes(t.d.proc.pid!, 'VmHWM');
    assert.ok(peak - base < RSS_BOUND, `peak RSS grew by ${(peak - base) >> 20} MiB for ${bomb.length} bytes sent 8 times`);
    assert.ok(await logged('header block inflates past 262144 bytes'), 'the violation is logged');
    await t.assertUnharmed(live, 'a');
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });

  it('streams past the cap are refused with REFUSED_STREAM; the connection and the daemon go on', async () => {
    const live = await t.catSession();
    // An exec whose own streams are open, then streams of no use to it until the cap.
    const { session } = await spdyConnect(await t.execUrl(['sleep', '3600']), ['v4.channel.k8s.io']);
    try {
      for (const t of ['error', 'stdout', 'stderr']) (await session.openStream({ streamType: t })).resume();
      for (let i = 3; i < 64; i++) (await session.openStream({ streamType: `junk-${i}` })).resume();
      const over = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => session.openStream({ streamType: `over-${i}` })));
      for (const r of over) {
        assert.equal(r.status, 'rejected');
        assert.match(String((r as PromiseRejectedResult).reason), /reset \(status 3\)/, 'REFUSED_STREAM');
      }
      assert.equal(session.isClosed, false, 'the connection itself stays');
      assert.ok(await logged('at most 64'), 'the refusal is logged');
      await t.assertUnharmed(live, 'b');
    } finally {
      session.destroy();
    }
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });

  it('port-forward: streams waiting for their pair, and a port that never reads, buffer bounded', async () => {
    // Accepts every connection and hands it to a sleep, which never reads it.
    const sink = await t.start('sink', ['busybox', 'nc', '-ll', '-p', '9000', '-e', 'sleep', '3600']);
    while (!(await t.d.clients.runtime.ExecSync({ container_id: sink, cmd: ['busybox', 'netstat', '-ltn'], timeout: 10 })).stdout.toString().includes(':9000 ')) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const live = await t.catSession();
    const base = await resetPeakRss(t.d.proc.pid!);

    // Data streams whose error stream never comes: nobody reads them.
    const pending = (await spdyConnect(await portForwardUrl(9000), ['portforward.k8s.io'])).session;
    const unpaired = await Promise.all(Array.from({ length: 16 }, (_, i) => pending.openStream({ streamType: 'data', port: '9000', requestID: `p${i}` })));
    const sentPending = await flood(pending, unpaired, 16 << 20);
    // 256 MiB offered; what left the client is what the kernel's buffers and the daemon's caps hold.
    assert.ok(sentPending < (await tcpBufferMax()) + (16 << 20), `${sentPending >> 20} MiB sent of 256 MiB offered`);

    // Whole pairs to a port that accepts and never reads.
    const stuck = (await spdyConnect(await portForwardUrl(9000), ['portforward.k8s.io'])).session;
    const data: SpdyStream[] = [];
    for (let i = 0; i < 4; i++) {
      (await stuck.openStream({ streamType: 'error', port: '9000', requestID: `s${i}` })).end();
      data.push(await stuck.openStream({ streamType: 'data', port: '9000', requestID: `s${i}` }));
    }
    await flood(stuck, data, 64 << 20);

    const peak = await rssBytes(t.d.proc.pid!, 'VmHWM');
    assert.ok(peak - base < RSS_BOUND, `peak RSS grew by ${(peak - base) >> 20} MiB`);
    await t.assertUnharmed(live, 'c');
    pending.destroy();
    stuck.destroy();
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });

  it('websocket: a message over maxPayload and a malformed frame close that connection, not the daemon', async () => {
    const live = await t.catSession();
    const big = await wsConnect(await t.execUrl(['cat'], true), ['v5.channel.k8s.io']);
    const bigClosed = new Promise<number>((resolve) => big.once('close', (code: number) => resolve(code)));
    big.on('error', () => undefined);
    big.send(Buffer.concat([Buffer.from([0]), Buffer.alloc(1 << 20)]));
    // 1009 (message too big) as a rule; 1006 if the close frame lost the race with our own sending.
    assert.ok([1009, 1006].includes(await bigClosed), 'closed');
    assert.ok(await logged('Max payload size exceeded'), 'for its size');

    // A reserved opcode (3), masked, empty: no client library would send it.
    const raw = await rawWsUpgrade(await t.execUrl(['cat'], true), 'v4.channel.k8s.io');
    const rawClosed = untilClosed(raw);
    raw.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4]));
    await rawClosed;
    // An unmasked frame from a client, which the protocol forbids.
    const unmasked = await rawWsUpgrade(await t.execUrl(['cat'], true), 'v4.channel.k8s.io');
    const unmaskedClosed = untilClosed(unmasked);
    unmasked.write(Buffer.from([0x82, 0x02, 0x00, 0x41]));
    await unmaskedClosed;

    assert.ok(await logged('streaming: websocket error'), 'the errors are logged');
    await t.assertUnharmed(live, 'd');
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });

  it('one byte per socket read, padded with frames for nobody, is charged what it holds: SPDY and websocket', async () => {
    const live = await t.catSession();
    const base = await resetPeakRss(t.d.proc.pid!);
    // SPDY: a data stream waiting for its pair (nobody reads it yet) gets one byte per 16 KiB
    // of DATA frames to a stream that does not exist. Kept as views into the socket reads
    // they came in, 64 Ki such bytes would hold 1 GiB.
    const { session } = await spdyConnect(await portForwardUrl(9000), ['portforward.k8s.io']);
    const waiting = await session.openStream({ streamType: 'data', port: '9000', requestID: 'w' });
    const enc = new FrameEncoder();
    const filler = enc.data(0x7ffffff1, Buffer.alloc(16 << 10, 'f'));
    const spdyUnits = await pump(session.socket, (i) => Buffer.concat([enc.data(waiting.id, Buffer.from([i & 0xff])), filler]), 64 << 10);
    const spdyPeak = await rssBytes(t.d.proc.pid!, 'VmHWM');
    assert.ok(spdyPeak - base < ATTACK_RSS_BOUND, `peak RSS grew by ${(spdyPeak - base) >> 20} MiB for ${spdyUnits} one-byte frames`);

    // Websocket: one byte on stdin (piped to a process that never reads it) per 4 KiB message
    // on a channel nobody has. Once the pipe is full, each would hold its 64 KiB socket read.
    const wsBase = await resetPeakRss(t.d.proc.pid!);
    const ws = await rawWsUpgrade(await t.execUrl(['sleep', '3600'], true), 'v5.channel.k8s.io');
    ws.on('data', () => undefined);
    ws.on('error', () => undefined);
    const wsFiller = wsFrame(Buffer.concat([Buffer.from([9]), Buffer.alloc(4 << 10, 'f')]));
    const wsUnits = await pump(ws, (i) => Buffer.concat([wsFrame(Buffer.from([0, i & 0xff])), wsFiller]), 120 << 10);
    const wsPeak = await rssBytes(t.d.proc.pid!, 'VmHWM');
    assert.ok(wsPeak - wsBase < ATTACK_RSS_BOUND, `peak RSS grew by ${(wsPeak - wsBase) >> 20} MiB for ${wsUnits} one-byte messages`);
    assert.ok(spdyUnits > 1000 && wsUnits > 1000, `the attacks got through: ${spdyUnits} and ${wsUnits} units sent`);

    await t.assertUnharmed(live, 'e');
    session.destroy();
    ws.destroy();
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });
});
