import assert from 'node:assert/strict';
import { busyboxPod, type BusyboxPod } from '../helpers/busybox-pod.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { liveExec, resetPeakRss, rssBytes, tcpConnect, untilClosed, type LiveExec } from '../helpers/stream-attacks.js';
import { spdyConnect, wsConnect } from '../helpers/stream-clients.js';
import { until } from '../helpers/until.js';

/**
 * The streaming server's clocks and connection caps, against the real daemon: each test
 * starts one with the `[streaming]` settings it is about, small enough to be seen.
 */
describe('streaming/streaming-server: timeouts and connection caps', function () {
  this.timeout(120_000);
  const fixture = busyboxRegistry('timeouts/busybox');
  let d: TestDaemon;
  let pod: string;
  let box: string;

  async function setup(streaming: string): Promise<void> {
    let start: BusyboxPod['start'];
    ({ d, pod, start } = await busyboxPod(fixture, 'timeoutspod', { extra: `[streaming]\n${streaming}\n` }));
    box = await start('box', ['sleep', '3600']);
  }

  const execUrl = async (cmd: string[], stdin = false): Promise<string> => (await d.clients.runtime.Exec({ container_id: box, cmd, stdin, stdout: true, stderr: true })).url;
  const portForwardUrl = async (port: number): Promise<string> => (await d.clients.runtime.PortForward({ pod_sandbox_id: pod, port: [port] })).url;
  const count = (text: string): number => d.lines.filter((l) => l.includes(text)).length;

  it('an upgraded connection with no traffic for idle_timeout is closed: websocket and SPDY', async () => {
    await setup('idle_timeout = 2');
    // An exec whose process writes nothing, over a websocket (ws itself clears a socket's timeout).
    const ws = await wsConnect(await execUrl(['sleep', '3600']), ['v5.channel.k8s.io']);
    const wsClosed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    // The same over SPDY, every stream open.
    const { session } = await spdyConnect(await execUrl(['sleep', '3601']), ['v4.channel.k8s.io']);
    for (const t of ['error', 'stdout', 'stderr']) (await session.openStream({ streamType: t })).resume();
    const spdyClosed = new Promise<void>((resolve) => session.once('close', resolve));
    // A port-forward that opens no stream.
    const pf = (await spdyConnect(await portForwardUrl(80), ['portforward.k8s.io'])).session;
    const pfClosed = new Promise<void>((resolve) => pf.once('close', resolve));

    assert.equal(await wsClosed, 1006, 'dropped, not closed by a close frame');
    await spdyClosed;
    await pfClosed;
    await until('the idle closes logged', () => count('streaming: connection closed: idle') === 3);
  });

  it('a connection that never upgrades is closed at handshake_timeout; one that opens no streams at stream_creation_timeout', async () => {
    await setup('handshake_timeout = 1\nstream_creation_timeout = 2');
    const live = await liveExec(await execUrl(['cat'], true));
    // Connected, silent; and half a request line, then nothing.
    const silent = await tcpConnect(await portForwardUrl(1));
    assert.equal((await untilClosed(silent)).length, 0);
    const slow = await tcpConnect(await portForwardUrl(1));
    const slowClosed = untilClosed(slow);
    slow.write('POST /exec/');
    await slowClosed;
    await until('the deadline logged', () => count('not upgraded in time') >= 1);

    // Upgraded with a good token, then no stream opened.
    const { session } = await spdyConnect(await execUrl(['true']), ['v4.channel.k8s.io']);
    await new Promise<void>((resolve) => session.once('close', resolve));
    await until('the stream timeout logged', () => count('timed out waiting for client to create streams (have none)') === 1);
    await live.echo('still-here');
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });

  it('idle sockets cannot lock out a client with a token: past max_pending_connections the oldest goes', async () => {
    await setup('max_pending_connections = 4\nmax_connections = 2');
    const url = await portForwardUrl(1);
    // Twice the pending cap of sockets that never send a byte.
    const idle = [];
    for (let i = 0; i < 8; i++) {
      const s = await tcpConnect(url);
      idle.push({ s, closed: untilClosed(s) });
    }
    // The first four made room for the next four.
    for (const { closed } of idle.slice(0, 4)) assert.equal((await closed).length, 0);
    // Clients with tokens get in, past the idle ones, up to max_connections...
    const live = await liveExec(await execUrl(['cat'], true));
    await live.echo('one');
    const other = await liveExec(await execUrl(['cat'], true));
    await other.echo('two');
    // ...which counts only them: one more is answered 503, whatever is pending.
    await assert.rejects(spdyConnect(await execUrl(['true']), ['v4.channel.k8s.io']), (e: { status: number; body: string }) => e.status === 503 && e.body === 'too many streaming connections\n');
    await until('the closes and the refusal logged', () => count('too many connections not upgraded yet') >= 1 && count('too many connections"') >= 1);
    for (const { s } of idle) s.destroy();

    // One upgraded connection gone lets the next in (once the server has seen it go).
    assert.deepEqual(JSON.parse(await other.finish()), { metadata: {}, status: 'Success' });
    let third: LiveExec | undefined;
    await until('a place for a third exec', async () => {
      third = await liveExec(await execUrl(['cat'], true)).catch((e: { status?: number }) => {
        if (e.status === 503) return undefined;
        throw e;
      });
      return third !== undefined;
    });
    await third!.echo('three');
    await live.echo('still-one');
    for (const l of [live, third!]) assert.deepEqual(JSON.parse(await l.finish()), { metadata: {}, status: 'Success' });
  });

  it('max_streams_per_connection defaults high enough for many forwarded connections at once, at a bounded cost', async () => {
    await setup('');
    // kubectl port-forward opens a pair of streams per TCP connection it forwards, and
    // kubelet sets no such cap: 1000 streams on one connection, each waiting for its pair.
    const { session } = await spdyConnect(await portForwardUrl(9), ['portforward.k8s.io']);
    try {
      const base = await resetPeakRss(d.proc.pid!);
      const streams = await Promise.all(Array.from({ length: 1000 }, (_, i) => session.openStream({ streamType: 'error', port: '9', requestID: String(i) })));
      for (const s of streams) s.resume();
      assert.equal(count('SPDY limit reached'), 0);
      const grown = (await rssBytes(d.proc.pid!, 'VmHWM')) - base;
      assert.ok(grown < 48 << 20, `1000 open streams took ${grown >> 10} KiB`);
    } finally {
      session.destroy();
    }
  });
});
