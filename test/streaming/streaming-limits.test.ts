import assert from 'node:assert/strict';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import type { ContainerConfig } from '../../src/generated/runtime/v1/ContainerConfig.js';
import { HEADER_DICTIONARY } from '../../src/streaming/spdy-frames.js';
import type { SpdySession, SpdyStream } from '../../src/streaming/spdy-session.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { podConfig } from '../helpers/pods.js';
import { establishedOn, flood, liveExec, rawSynStream, rawWsUpgrade, resetPeakRss, rssBytes, tcpBufferMax, tcpConnect, untilClosed, type LiveExec } from '../helpers/stream-attacks.js';
import { spdyConnect, wsConnect } from '../helpers/stream-clients.js';

/** What an attack may add to the daemon's peak resident set. */
const RSS_BOUND = 64 << 20;
const MAX_CONNECTIONS = 16;

/**
 * Hostile streaming clients against the real daemon: each attack goes through a real socket
 * with a real token, and each test checks the daemon lived, its memory stayed bounded, and
 * an exec session on another connection went on working through it.
 */
describe('streaming: hostile clients are contained', function () {
  this.timeout(180_000);
  const fixture = busyboxRegistry('limits/busybox');
  let d: TestDaemon;
  let pod: string;
  let victim: string;
  let podCfg: ReturnType<typeof podConfig>;

  beforeEach(async () => {
    d = await startTestDaemon({
      network: true,
      mirrors: { [fixture.registry.host]: fixture.registry.url },
      extra: `[streaming]\nstream_creation_timeout = 2\nmax_connections = ${MAX_CONNECTIONS}\n`,
    });
    await d.clients.image.PullImage({ image: { image: fixture.image } });
    podCfg = podConfig('limitspod', { log_directory: join(d.dir, 'logs') });
    pod = (await d.clients.runtime.RunPodSandbox({ config: podCfg })).pod_sandbox_id;
    victim = await start('victim', ['sleep', '3600']);
  });

  async function start(name: string, command: string[]): Promise<string> {
    const config: ContainerConfig = { metadata: { name, attempt: 0 }, image: { image: fixture.image }, command, log_path: `${name}.log` };
    const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config, sandbox_config: podCfg });
    await d.clients.runtime.StartContainer({ container_id: id });
    return id;
  }

  const execUrl = async (cmd: string[], stdin = false): Promise<string> => (await d.clients.runtime.Exec({ container_id: victim, cmd, stdin, stdout: true, stderr: true })).url;
  const portForwardUrl = async (port: number): Promise<string> => (await d.clients.runtime.PortForward({ pod_sandbox_id: pod, port: [port] })).url;
  const catSession = async (): Promise<LiveExec> => liveExec(await execUrl(['cat'], true));

  /** The daemon is up and serving, and the session made before the attack still echoes. */
  async function assertUnharmed(live: LiveExec, tag: string): Promise<void> {
    assert.equal(d.proc.exitCode, null, `the daemon is alive:\n${d.lines.slice(-20).join('\n')}`);
    assert.equal(d.proc.signalCode, null);
    await d.clients.runtime.Version({});
    await live.echo(`still-here-${tag}`);
  }

  const logged = (text: string): boolean => d.lines.some((l) => l.includes(text));

  it('a header block that inflates past the cap closes its connection only: GOAWAY, bounded memory', async () => {
    const live = await catSession();
    await live.echo('before');
    const bomb = deflateSync(Buffer.alloc(32 << 20), { dictionary: HEADER_DICTIONARY, level: 9 });
    const base = await resetPeakRss(d.proc.pid!);
    const attacks = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const { session } = await spdyConnect(await execUrl(['true']), ['v4.channel.k8s.io']);
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
    const peak = await rssBytes(d.proc.pid!, 'VmHWM');
    assert.ok(peak - base < RSS_BOUND, `peak RSS grew by ${(peak - base) >> 20} MiB for ${bomb.length} bytes sent 8 times`);
    assert.ok(logged('header block inflates past 262144 bytes'), 'the violation is logged');
    await assertUnharmed(live, 'a');
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });

  it('streams past the cap are refused with REFUSED_STREAM; the connection and the daemon go on', async () => {
    const live = await catSession();
    // An exec whose own streams are open, then streams of no use to it until the cap.
    const { session } = await spdyConnect(await execUrl(['sleep', '3600']), ['v4.channel.k8s.io']);
    try {
      for (const t of ['error', 'stdout', 'stderr']) (await session.openStream({ streamType: t })).resume();
      for (let i = 3; i < 64; i++) (await session.openStream({ streamType: `junk-${i}` })).resume();
      const over = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => session.openStream({ streamType: `over-${i}` })));
      for (const r of over) {
        assert.equal(r.status, 'rejected');
        assert.match(String((r as PromiseRejectedResult).reason), /reset \(status 3\)/, 'REFUSED_STREAM');
      }
      assert.equal(session.isClosed, false, 'the connection itself stays');
      assert.ok(logged('at most 64'), 'the refusal is logged');
      await assertUnharmed(live, 'b');
    } finally {
      session.destroy();
    }
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });

  it('port-forward: streams waiting for their pair, and a port that never reads, buffer bounded', async () => {
    // Accepts every connection and hands it to a sleep, which never reads it.
    const sink = await start('sink', ['busybox', 'nc', '-ll', '-p', '9000', '-e', 'sleep', '3600']);
    while (!(await d.clients.runtime.ExecSync({ container_id: sink, cmd: ['busybox', 'netstat', '-ltn'], timeout: 10 })).stdout.toString().includes(':9000 ')) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const live = await catSession();
    const base = await resetPeakRss(d.proc.pid!);

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

    const peak = await rssBytes(d.proc.pid!, 'VmHWM');
    assert.ok(peak - base < RSS_BOUND, `peak RSS grew by ${(peak - base) >> 20} MiB`);
    assert.ok(logged('bytes nobody read') || logged('received and not yet read'), 'a buffering cap engaged and was logged');
    await assertUnharmed(live, 'c');
    pending.destroy();
    stuck.destroy();
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });

  it('websocket: a message over maxPayload and a malformed frame close that connection, not the daemon', async () => {
    const live = await catSession();
    const big = await wsConnect(await execUrl(['cat'], true), ['v5.channel.k8s.io']);
    const bigClosed = new Promise<number>((resolve) => big.once('close', (code: number) => resolve(code)));
    big.on('error', () => undefined);
    big.send(Buffer.concat([Buffer.from([0]), Buffer.alloc(1 << 20)]));
    // 1009 (message too big) as a rule; 1006 if the close frame lost the race with our own sending.
    assert.ok([1009, 1006].includes(await bigClosed), 'closed');
    assert.ok(logged('Max payload size exceeded'), 'for its size');

    // A reserved opcode (3), masked, empty: no client library would send it.
    const raw = await rawWsUpgrade(await execUrl(['cat'], true), 'v4.channel.k8s.io');
    const rawClosed = untilClosed(raw);
    raw.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4]));
    await rawClosed;
    // An unmasked frame from a client, which the protocol forbids.
    const unmasked = await rawWsUpgrade(await execUrl(['cat'], true), 'v4.channel.k8s.io');
    const unmaskedClosed = untilClosed(unmasked);
    unmasked.write(Buffer.from([0x82, 0x02, 0x00, 0x41]));
    await unmaskedClosed;

    assert.ok(logged('streaming: websocket error'), 'the errors are logged');
    await assertUnharmed(live, 'd');
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });

  it('connections past the total cap are answered 503 and closed; one freed lets the next in', async () => {
    const port = new URL(await portForwardUrl(1)).port;
    // Earlier connections (the start-up's none, a test's) are gone from the server's side.
    while ((await establishedOn(port)) > 0) await new Promise((r) => setTimeout(r, 50));
    const held: SpdySession[] = [];
    for (let i = 0; i < MAX_CONNECTIONS; i++) held.push((await spdyConnect(await portForwardUrl(9000), ['portforward.k8s.io'])).session);
    const extra = await tcpConnect(await portForwardUrl(9000));
    const answer = (await untilClosed(extra)).toString();
    assert.match(answer, /^HTTP\/1\.1 503 Service Unavailable\r\n[\s\S]*\r\n\r\ntoo many streaming connections\n$/);
    assert.ok(logged('too many connections'));
    for (const s of held) assert.equal(s.isClosed, false, 'the held ones are untouched');

    const closed = new Promise<void>((resolve) => held[0]!.once('close', resolve));
    held.shift()!.destroy();
    await closed;
    while ((await establishedOn(port)) >= MAX_CONNECTIONS) await new Promise((r) => setTimeout(r, 50));
    const live = await catSession();
    await assertUnharmed(live, 'e');
    for (const s of held) s.destroy();
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });

  it('a connection that never upgrades, or never opens its streams, is closed at the creation timeout', async () => {
    const live = await catSession();
    // Connected, silent: closed by the upgrade deadline (2 s here).
    const silent = await tcpConnect(await portForwardUrl(1));
    assert.equal((await untilClosed(silent)).length, 0);
    // Half a request line, then nothing.
    const slow = await tcpConnect(await portForwardUrl(1));
    const slowClosed = untilClosed(slow);
    slow.write('POST /exec/');
    await slowClosed;
    assert.ok(logged('not upgraded in time'), 'closed for the upgrade deadline');

    // Upgraded with a good token, then no stream opened.
    const { session } = await spdyConnect(await execUrl(['true']), ['v4.channel.k8s.io']);
    await new Promise<void>((resolve) => session.once('close', resolve));
    assert.ok(logged('timed out waiting for client to create streams (have none)'));
    await assertUnharmed(live, 'f');
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });
});
