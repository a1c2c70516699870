import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FrameEncoder } from '../../src/streaming/spdy-frames.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { onCleanup } from '../helpers/cleanup.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { podConfig, startContainer } from '../helpers/pods.js';
import { liveExec, rawSpdyUpgrade, resetPeakRss, settledPeak, type LiveExec } from '../helpers/stream-attacks.js';
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
  let d: TestDaemon;
  let pod: string;
  let victim: string;
  let podCfg: ReturnType<typeof podConfig>;

  beforeEach(async () => {
    d = await startTestDaemon({ network: true, mirrors: { [fixture.registry.host]: fixture.registry.url } });
    await d.clients.image.PullImage({ image: { image: fixture.image } });
    podCfg = podConfig('outboundpod', { log_directory: join(d.dir, 'logs') });
    pod = (await d.clients.runtime.RunPodSandbox({ config: podCfg })).pod_sandbox_id;
    victim = await start('victim', ['sleep', '3600']);
  });

  const start = (name: string, command: string[]): Promise<string> => startContainer(d.clients.runtime, { id: pod, config: podCfg }, fixture.image, name, command);

  const execUrl = async (cmd: string[], stdin = false): Promise<string> => (await d.clients.runtime.Exec({ container_id: victim, cmd, stdin, stdout: true, stderr: true })).url;
  const catSession = async (): Promise<LiveExec> => liveExec(await execUrl(['cat'], true));

  /** The daemon's children running `name` (socat is exec'd by nsenter in place). */
  async function children(name: string): Promise<number> {
    const { stdout } = await run('pgrep', ['-c', '-P', String(d.proc.pid), '-x', name]).catch((e: { stdout: string }) => e);
    return Number(stdout.trim() || 0);
  }

  async function assertUnharmed(live: LiveExec, tag: string): Promise<void> {
    assert.equal(d.proc.exitCode, null, `the daemon is alive:\n${d.lines.slice(-20).join('\n')}`);
    assert.equal(d.proc.signalCode, null);
    await d.clients.runtime.Version({});
    await live.echo(`still-here-${tag}`);
  }

  function closeOnCleanup(sockets: Socket[]): void {
    onCleanup('close the hostile connections', () => {
      for (const s of sockets) s.destroy();
    });
  }

  it(`port-forward: ${PAIRS} connections from a port that writes, to a client that reads nothing`, async () => {
    // Each connection gets PER_CONNECTION bytes from the pod, then the server waits.
    const script = `head -c ${PER_CONNECTION} /dev/zero; sleep 3600`;
    const source = await start('source', ['busybox', 'nc', '-ll', '-p', '9100', '-e', 'sh', '-c', script]);
    await until('the pod server to listen', async () => (await d.clients.runtime.ExecSync({ container_id: source, cmd: ['busybox', 'netstat', '-ltn'], timeout: 10 })).stdout.toString().includes(':9100 '), 120_000);
    const live = await catSession();
    await live.echo('before');
    const base = await resetPeakRss(d.proc.pid!);

    // Every pair asked for at once, in one write; the client never reads a byte.
    const socket = await rawSpdyUpgrade((await d.clients.runtime.PortForward({ pod_sandbox_id: pod, port: [9100] })).url, 'portforward.k8s.io');
    closeOnCleanup([socket]);
    const enc = new FrameEncoder();
    const frames: Buffer[] = [];
    for (let i = 0; i < PAIRS; i++) {
      frames.push(enc.synStream(4 * i + 1, { streamType: 'error', port: '9100', requestID: String(i) }, true));
      frames.push(enc.synStream(4 * i + 3, { streamType: 'data', port: '9100', requestID: String(i) }));
    }
    socket.write(Buffer.concat(frames));
    await until(`${PAIRS} connections into the pod`, async () => (await children('socat')) >= PAIRS, 120_000);
    const peak = await settledPeak(d.proc.pid!);
    console.log(`      port-forward: peak RSS grew by ${((peak - base) / 1048576).toFixed(1)} MiB`);
    assert.ok(peak - base < PORT_FORWARD_RSS_BOUND, `peak RSS grew by ${(peak - base) >> 20} MiB for ${PAIRS} forwarded connections nobody reads`);
    assert.ok(d.lines.some((l) => l.includes('"limit":"outbound"')), 'the connection held its sources at its cap');
    await assertUnharmed(live, 'pf');
    socket.destroy();
    await until('the forwarded connections to go', async () => (await children('socat')) === 0, 120_000);
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });

  it(`exec: ${EXECS} sessions of yes, their clients reading nothing`, async () => {
    const live = await catSession();
    await live.echo('before');
    const base = await resetPeakRss(d.proc.pid!);
    const sockets: Socket[] = [];
    closeOnCleanup(sockets);
    for (let i = 0; i < EXECS; i++) {
      const socket = await rawSpdyUpgrade(await execUrl(['busybox', 'yes', `outbound-yes-${i}`]), 'v4.channel.k8s.io');
      sockets.push(socket);
      const enc = new FrameEncoder();
      socket.write(Buffer.concat(['error', 'stdout', 'stderr'].map((t, n) => enc.synStream(2 * n + 1, { streamType: t }, true))));
    }
    await until(`${EXECS} yes processes`, async () => {
      const { stdout } = await run('pgrep', ['-c', '-f', 'busybox yes outbound-yes-']).catch((e: { stdout: string }) => e);
      return Number(stdout.trim() || 0) >= EXECS;
    }, 120_000);
    const peak = await settledPeak(d.proc.pid!);
    console.log(`      exec: peak RSS grew by ${((peak - base) / 1048576).toFixed(1)} MiB`);
    assert.ok(peak - base < EXEC_RSS_BOUND, `peak RSS grew by ${(peak - base) >> 20} MiB for ${EXECS} execs nobody reads`);
    await assertUnharmed(live, 'exec');
    for (const s of sockets) s.destroy();
    assert.deepEqual(JSON.parse(await live.finish()), { metadata: {}, status: 'Success' });
  });
});
