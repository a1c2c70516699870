import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import { FrameEncoder } from '../../src/streaming/spdy-frames.js';
import { attackTargetEach } from '../helpers/attack-target.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { onCleanup } from '../helpers/cleanup.js';
import { rawSpdyUpgrade, resetPeakRss, settledPeak } from '../helpers/stream-attacks.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);

/**
 * What one port-forward client that reads nothing may add to the daemon's peak resident set:
 * its connection's outbound cap (4 MiB) and what its 1000 streams and the 500 processes
 * feeding them cost in objects and transient buffers (measured: 23 to 28 MiB; before the
 * outbound cap, 73 MiB, about 150 KiB held per stream).
 */
const PORT_FORWARD_RSS_BOUND = 48 << 20;
/**
 * The same for exec clients that read nothing. Each connection has two sources at most, so
 * this was bounded before too (measured 43 MiB before, 37 to 40 MiB now): most of it is
 * output on its way to the kernel's socket buffers (several MiB per connection) that V8
 * frees late.
 */
const EXEC_RSS_BOUND = 96 << 20;
/** Forwarded connections the port-forward client opens at once (1000 streams). */
const PAIRS = 500;
/** What the pod's server writes on each connection: more than the daemon would hold of it before. */
const PER_CONNECTION = 512 << 10;
/** Exec sessions of `yes` whose client reads nothing. */
const EXECS = 24;

/**
 * Clients that read nothing of what the daemon sends, against the real daemon: what it holds
 * for them stays bounded whatever the number of streams, the daemon lives, and an exec
 * session on another connection goes on working.
 */
describe('streaming/streaming-server: outbound memory is bounded for clients that do not read', function () {
  this.timeout(300_000);
  const fixture = busyboxRegistry('outbound/busybox');
  const t = attackTargetEach(fixture, 'outboundpod');

  /** The daemon's children running `name` (socat is exec'd by nsenter in place). */
  async function children(name: string): Promise<number> {
    const { stdout } = await run('pgrep', ['-c', '-P', String(t.d.proc.pid), '-x', name]).catch((e: { stdout: string }) => e);
    return Number(stdout.trim() || 0);
  }

  function closeOnCleanup(sockets: Socket[]): void {
    onCleanup('close the hostile connections', () => {
      for (const s of sockets) s.destroy();
    });
  }

  it(`port-forward: ${PAIRS} connections from a port that writes, to a client that reads nothing`, async () => {
    // Each connection gets PER_CONNECTION bytes from the pod, then the server waits.
    const script = `head -c ${PER_CONNECTION} /dev/zero; sleep 3600`;
    const source = await t.start('source', ['busybox', 'nc', '-ll', '-p', '9100', '-e', 'sh', '-c', script]);
    await until('the pod server to listen', async () => (await t.d.clients.runtime.ExecSync({ container_id: source, cmd: ['busybox', 'netstat', '-ltn'], timeout: 10 })).stdout.toString().includes(':9100 '), 120_000);
    const live = await t.catSession();
    await live.echo('before');
    const base = await resetPeakRss(t.d.proc.pid!);

    // Every pair asked for at once, in one write; the client never reads a byte.
    const socket = await rawSpdyUpgrade((await t.d.clients.runtime.PortForward({ pod_sandbox_id: t.pod, port: [9100] })).url, 'portforward.k8s.io');
    closeOnCleanup([socket]);
    const enc = new FrameEncoder();
    const frames: Buffer[] = [];
    for (let i = 0; i < PAIRS; i++) {
      frames.push(enc.synStream(4 * i + 1, { streamType: 'error', port: '9100', requestID: String(i) }, true));
      frames.push(enc.synStream(4 * i + 3, { streamType: 'data', port: '9100', requestID: String(i) }));
    }
    socket.write(Buffer.concat(frames));
    await until(`${PAIRS} connections into the pod`, async () => (await children('socat')) >= PAIRS, 120_000);
    const peak = await settledPeak(t.d.proc.pid!);
    console.log(`      port-forward: peak RSS grew by ${((peak - base) / 1048576).toFixed(1)} MiB`);
    assert.ok(peak - base < PORT_FORWARD_RSS_BOUND, `peak RSS grew by ${(peak - base) >> 20} MiB for ${PAIRS} forwarded connections nobody reads`);
    assert.ok(t.d.lines.some((l) => l.includes('"limit":"outbound"')), 'the connection held its sources at its cap');
    await t.assertUnharmed(live, 'pf');
    socket.destroy();
    await until('the forwarded connections to go', async () => (await children('socat')) === 0, 120_000);
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });

  it(`exec: ${EXECS} sessions of yes, their clients reading nothing`, async () => {
    const live = await t.catSession();
    await live.echo('before');
    const base = await resetPeakRss(t.d.proc.pid!);
    const sockets: Socket[] = [];
    closeOnCleanup(sockets);
    for (let i = 0; i < EXECS; i++) {
      const socket = await rawSpdyUpgrade(await t.execUrl(['busybox', 'yes', `outbound-yes-${i}`]), 'v4.channel.k8s.io');
      sockets.push(socket);
      const enc = new FrameEncoder();
      socket.write(Buffer.concat(['error', 'stdout', 'stderr'].map((type, n) => enc.synStream(2 * n + 1, { streamType: type }, true))));
    }
    await until(`${EXECS} yes processes`, async () => {
      const { stdout } = await run('pgrep', ['-c', '-f', 'busybox yes outbound-yes-']).catch((e: { stdout: string }) => e);
      return Number(stdout.trim() || 0) >= EXECS;
    }, 120_000);
    const peak = await settledPeak(t.d.proc.pid!);
    console.log(`      exec: peak RSS grew by ${((peak - base) / 1048576).toFixed(1)} MiB`);
    assert.ok(peak - base < EXEC_RSS_BOUND, `peak RSS grew by ${(peak - base) >> 20} MiB for ${EXECS} execs nobody reads`);
    await t.assertUnharmed(live, 'exec');
    for (const s of sockets) s.destroy();
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });
});
