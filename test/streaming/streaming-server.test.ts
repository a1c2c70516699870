import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { busyboxPod, type BusyboxPod } from '../helpers/busybox-pod.js';
import { onCleanup } from '../helpers/cleanup.js';
import { codeOf } from '../helpers/cri-client.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { podConfig } from '../helpers/pods.js';
import { buildGoClient, channelText, readAll, runGoClient, spdyConnect, spdyExec, wsConnect, wsMessages } from '../helpers/stream-clients.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Processes on the host whose command line contains `marker`. */
async function processesWith(marker: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.replace(/\0/g, ' ').includes(marker)) found.push(`${pid}: ${cmd.replace(/\0/g, ' ')}`);
  }
  return found;
}

async function waitGone(marker: string, ms = 5_000): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = await processesWith(marker);
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(50);
  }
}

describe('streaming/streaming-server: exec, attach and port-forward', function () {
  this.timeout(120_000);
  const fx = busyboxRegistry('stream/busybox', { config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
  let goClient: string;

  before(async () => {
    goClient = await buildGoClient();
  });

  let d: TestDaemon;
  let pod: string;
  let start: BusyboxPod['start'];

  beforeEach(async () => {
    ({ d, pod, start } = await busyboxPod(fx, 'streampod'));
  });

  const execUrl = async (id: string, cmd: string[], o: { stdin?: boolean; stdout?: boolean; stderr?: boolean; tty?: boolean }): Promise<string> =>
    (await d.clients.runtime.Exec({ container_id: id, cmd, stdin: false, stdout: true, stderr: !o.tty, tty: false, ...o })).url;

  it('Exec over SPDY: separate outputs, stdin, and the exit code as a v4 status', async () => {
    const id = await start('sleeper', ['sleep', '3600']);
    const url = await execUrl(id, ['sh', '-c', 'echo out; echo err >&2; exit 3'], {});
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{22}$/);
    const failed = await spdyExec(url, { stdout: true, stderr: true });
    assert.equal(failed.protocol, 'v4.channel.k8s.io');
    assert.deepEqual([failed.stdout, failed.stderr], ['out\n', 'err\n']);
    const status = JSON.parse(failed.error) as { status: string; reason: string; details: { causes: { reason: string; message: string }[] } };
    assert.equal(status.status, 'Failure');
    assert.equal(status.reason, 'NonZeroExitCode');
    assert.deepEqual(status.details.causes, [{ reason: 'ExitCode', message: '3' }]);

    const echoed = await spdyExec(await execUrl(id, ['sh', '-c', 'cat; echo done'], { stdin: true }), { stdin: 'line one\nline two\n', stdout: true, stderr: true });
    assert.equal(echoed.stdout, 'line one\nline two\ndone\n');
    assert.deepEqual(JSON.parse(echoed.error), { metadata: {}, status: 'Success' });

    // Before v4 the error stream carries a failure as text, and nothing on success.
    const v2 = await spdyExec(await execUrl(id, ['sh', '-c', 'exit 7'], {}), { stdout: true, stderr: true, protocols: ['v2.channel.k8s.io'] });
    assert.equal(v2.protocol, 'v2.channel.k8s.io');
    assert.match(v2.error, /^command terminated with non-zero exit code: .*exit code 7$/);
    const v2ok = await spdyExec(await execUrl(id, ['true'], {}), { stdout: true, stderr: true, protocols: ['v2.channel.k8s.io'] });
    assert.equal(v2ok.error, '');
  });

  it('Exec with a tty: one output, the terminal size from the resize stream', async () => {
    const id = await start('ttyhost', ['sleep', '3600']);
    const url = await execUrl(id, ['sh', '-c', 'sleep 0.5; busybox stty size; test -t 0 && echo is-a-tty'], { tty: true });
    const r = await spdyExec(url, { stdout: true, tty: true, sizes: [{ Width: 123, Height: 45 }] });
    assert.equal(r.stdout, '45 123\r\nis-a-tty\r\n');
    assert.deepEqual(JSON.parse(r.error), { metadata: {}, status: 'Success' });
  });

  it('the Go spdystream client: 100 MiB of output without a stall, stdin, exit codes', async () => {
    const id = await start('bulk', ['sleep', '3600']);
    const big = await runGoClient(goClient, ['exec', await execUrl(id, ['head', '-c', String(100 << 20), '/dev/zero'], {}), '-stdout', '-stderr']);
    assert.equal(big.code, 0, big.stderr);
    assert.equal(big.stdout.length, 100 << 20);
    assert.match(big.status, /"status":"Success"/);

    const input = await runGoClient(goClient, ['exec', await execUrl(id, ['sh', '-c', 'wc -c; exit 4'], { stdin: true }), '-stdin', '-stdout', '-stderr'], Buffer.alloc(300_000, 'x'));
    assert.equal(input.code, 0, input.stderr);
    assert.equal(input.stdout.toString().trim(), '300000');
    assert.match(input.status, /^streams open\nprotocol=v4\.channel\.k8s\.io\n/);
    assert.match(input.status, /"reason":"NonZeroExitCode".*"causes":\[\{"reason":"ExitCode","message":"4"\}\]/);

    const tty = await runGoClient(goClient, ['exec', await execUrl(id, ['sh', '-c', 'sleep 0.3; busybox stty size'], { tty: true, stdin: true }), '-tty', '-stdin', '-stdout', '-size', '90x20']);
    assert.equal(tty.stdout.toString(), '20 90\r\n');
  });

  it('stdin sent before the process has started is held back, not dropped: 8 MiB over SPDY and websocket', async () => {
    // client-go (kubectl cp, exec -i) writes stdin as soon as its stream is up; the process
    // starts later (runc exec). What comes first waits: the connection is not read meanwhile.
    const id = await start('counter', ['sleep', '3600']);
    const input = Buffer.alloc(8 << 20, 'y');
    const go = await runGoClient(goClient, ['exec', await execUrl(id, ['wc', '-c'], { stdin: true }), '-stdin', '-stdout', '-stderr'], input);
    assert.equal(go.code, 0, go.stderr);
    assert.equal(go.stdout.toString().trim(), String(8 << 20), d.lines.filter((l) => l.includes('streaming')).join('\n'));
    assert.match(go.status, /"status":"Success"/);

    // Over a v5 websocket, all of it sent at once on open, then the close signal for stdin.
    const ws = await wsConnect(await execUrl(id, ['wc', '-c'], { stdin: true }), ['v5.channel.k8s.io']);
    const done = wsMessages(ws, false);
    for (let at = 0; at < input.length; at += 32 << 10) ws.send(Buffer.concat([Buffer.from([0]), input.subarray(at, at + (32 << 10))]));
    ws.send(Buffer.from([255, 0]));
    const r = await done;
    assert.equal(channelText(r.messages, 1).trim(), String(8 << 20));
    assert.match(channelText(r.messages, 3), /"status":"Success"/);
  });

  it('Attach: the container\'s own stdio; closing stdin detaches and the container goes on', async () => {
    const id = await start('reader', ['sh', '-c', 'echo ready; while read l; do echo "got $l"; echo "warn $l" >&2; done'], { stdin: true });
    const url = (await d.clients.runtime.Attach({ container_id: id, stdin: true, stdout: true, stderr: true, tty: false })).url;
    assert.match(url, /\/attach\//);
    const r = await spdyExec(url, {
      stdout: true,
      stderr: true,
      stdin: async (stdin) => {
        stdin.write('one\n');
        await sleep(300);
        stdin.write('two\n');
        await sleep(500);
        stdin.end();
      },
    });
    assert.equal(r.stdout, 'got one\ngot two\n');
    assert.equal(r.stderr, 'warn one\nwarn two\n');
    assert.deepEqual(JSON.parse(r.error), { metadata: {}, status: 'Success' });
    assert.equal((await d.clients.runtime.ContainerStatus({ container_id: id })).status!.state, 'CONTAINER_RUNNING');
    assert.deepEqual(await waitGone(`coracle-attach ${join(d.state, 'containers')}`), [], 'no attach helper left');

    // Through the Go client, until the container ends: its stdin, left open, ends it.
    const ender = await start('ender', ['sh', '-c', 'read l; echo "bye $l"'], { stdin: true });
    const goAttach = runGoClient(goClient, ['exec', (await d.clients.runtime.Attach({ container_id: ender, stdin: false, stdout: true, stderr: true, tty: false })).url, '-stdout', '-stderr']);
    assert.equal(await goAttach.statusLine, 'streams open');
    const feed = await spdyExec((await d.clients.runtime.Attach({ container_id: ender, stdin: true, stdout: false, stderr: true, tty: false })).url, {
      stderr: true,
      stdin: async (stdin) => {
        stdin.write('now\n');
        await sleep(300);
        stdin.end();
      },
    });
    assert.deepEqual(JSON.parse(feed.error), { metadata: {}, status: 'Success' });
    const ended = await goAttach;
    assert.equal(ended.stdout.toString(), 'bye now\n');
    assert.match(ended.status, /"status":"Success"/);
  });

  it('Attach with a tty, resized through the monitor', async () => {
    const id = await start('ttyattach', ['sh'], { stdin: true, tty: true });
    const url = (await d.clients.runtime.Attach({ container_id: id, stdin: true, stdout: true, stderr: false, tty: true })).url;
    const r = await spdyExec(url, {
      stdout: true,
      tty: true,
      sizes: [{ Width: 77, Height: 22 }],
      stdin: async (stdin) => {
        await sleep(300);
        stdin.write('busybox stty size\n');
        await sleep(500);
        stdin.end();
      },
    });
    assert.match(r.stdout, /22 77\r\n/);
    assert.equal((await d.clients.runtime.ContainerStatus({ container_id: id })).status!.state, 'CONTAINER_RUNNING');
  });

  it('PortForward over SPDY into the pod: several connections at once; a closed port is reported', async () => {
    await start('web', ['sh', '-c', 'mkdir /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 8080 -h /www']);
    await sleep(300);
    const url = async (): Promise<string> => (await d.clients.runtime.PortForward({ pod_sandbox_id: pod, port: [8080] })).url;
    const go = await runGoClient(goClient, ['portforward', await url(), '8080'], 'GET /index.html HTTP/1.0\r\n\r\n');
    assert.equal(go.code, 0, go.stderr);
    assert.match(go.stdout.toString(), /^HTTP\/1\.[01] 200 OK\r\n[\s\S]*\r\n\r\nhello-from-pod\n$/);
    assert.equal(go.status.trim(), '');

    const { session } = await spdyConnect(await url(), ['portforward.k8s.io']);
    try {
      const one = async (n: number): Promise<string> => {
        const error = await session.openStream({ streamType: 'error', port: '8080', requestID: String(n) });
        error.end();
        const data = await session.openStream({ streamType: 'data', port: '8080', requestID: String(n) });
        data.end('GET /index.html HTTP/1.0\r\n\r\n');
        return (await readAll(data)).toString();
      };
      const answers = await Promise.all([1, 2, 3, 4].map(one));
      for (const a of answers) assert.match(a, /hello-from-pod/);
    } finally {
      session.close(500);
    }

    const refused = await runGoClient(goClient, ['portforward', await url(), '9'], 'x');
    assert.match(refused.status, new RegExp(`^error forwarding port 9 to pod ${pod}, uid : .*127\\.0\\.0\\.1:9.*Connection refused`));
    assert.deepEqual(await waitGone(`TCP4:127.0.0.1:`), [], 'no socat left');
  });

  it('PortForward of a host-network pod reaches the host\'s loopback', async () => {
    const server = createServer((s) => s.end('host says hi\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onCleanup('close the host server', () => new Promise((r) => server.close(r)));
    const port = (server.address() as { port: number }).port;
    const hostPod = (await d.clients.runtime.RunPodSandbox({
      config: podConfig('hostnet', { linux: { security_context: { namespace_options: { network: 'NODE', ipc: 'POD', pid: 'CONTAINER' } } } }),
    })).pod_sandbox_id;
    const url = (await d.clients.runtime.PortForward({ pod_sandbox_id: hostPod, port: [port] })).url;
    const r = await runGoClient(goClient, ['portforward', url, String(port)], '');
    assert.equal(r.stdout.toString(), 'host says hi\n');
    const ws = await wsConnect((await d.clients.runtime.PortForward({ pod_sandbox_id: hostPod, port: [port] })).url, ['v4.channel.k8s.io']);
    const { messages, code } = await wsMessages(ws, false);
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port);
    assert.deepEqual(messages.slice(0, 2), [{ channel: 0, data: prefix }, { channel: 1, data: prefix }]);
    assert.equal(channelText(messages.slice(2), 0), 'host says hi\n');
    assert.equal(code, 1000);
  });

  it('websocket: binary and base64 channels, v1 text errors, v5 close signal, port-forward', async () => {
    const id = await start('wshost', ['sleep', '3600']);
    const exec = async (protocol: string, cmd: string[], o: { stdin?: boolean; stderr?: boolean } = {}): Promise<{ ws: Awaited<ReturnType<typeof wsConnect>>; done: ReturnType<typeof wsMessages> }> => {
      const ws = await wsConnect(await execUrl(id, cmd, { stderr: true, ...o }), [protocol]);
      assert.equal(ws.protocol, protocol);
      return { ws, done: wsMessages(ws, protocol.includes('base64')) };
    };
    const v4 = await (await exec('v4.channel.k8s.io', ['sh', '-c', 'echo out; echo err >&2; exit 2'])).done;
    assert.deepEqual(v4.messages[0], { channel: 1, data: Buffer.alloc(0) }, 'one empty message says the streams are ready');
    assert.equal(channelText(v4.messages, 1), 'out\n');
    assert.equal(channelText(v4.messages, 2), 'err\n');
    assert.match(channelText(v4.messages, 3), /"reason":"NonZeroExitCode".*"message":"2"/);
    assert.equal(v4.code, 1000);

    const b64 = await exec('v4.base64.channel.k8s.io', ['sh', '-c', 'cat'], { stdin: true });
    b64.ws.send('0' + Buffer.from('over base64\n').toString('base64'));
    await sleep(200);
    b64.ws.close();
    const b64r = await b64.done;
    assert.equal(channelText(b64r.messages, 1), 'over base64\n');

    const v1 = await (await exec('channel.k8s.io', ['sh', '-c', 'exit 5'])).done;
    assert.match(channelText(v1.messages, 3), /^command terminated with non-zero exit code: .*exit code 5$/);

    // v5: the close signal ends the process's stdin, as closing a file would.
    const v5 = await exec('v5.channel.k8s.io', ['sh', '-c', 'cat; echo eof-seen'], { stdin: true });
    v5.ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('data\n')]));
    v5.ws.send(Buffer.from([255, 0]));
    const v5r = await v5.done;
    assert.equal(channelText(v5r.messages, 1), 'data\neof-seen\n');
    assert.ok(v5r.messages.some((m) => m.channel === 255 && m.data.equals(Buffer.from([1]))), 'the server closes stdout with the signal too');

    await start('wsweb', ['sh', '-c', 'mkdir /www && echo ws-page > /www/index.html && exec httpd -f -p 8081 -h /www']);
    await sleep(300);
    const pf = await wsConnect((await d.clients.runtime.PortForward({ pod_sandbox_id: pod, port: [8081] })).url, ['v4.base64.channel.k8s.io']);
    const pfDone = wsMessages(pf, true);
    pf.send('0' + Buffer.from('GET /index.html HTTP/1.0\r\n\r\n').toString('base64'));
    const pfr = await pfDone;
    assert.match(channelText(pfr.messages, 0), /ws-page/);
  });

  it('a client gone mid-stream leaves no process behind; the container goes on', async () => {
    const id = await start('victim', ['sleep', '3600'], { stdin: true });
    const hung = runGoClient(goClient, ['hang', await execUrl(id, ['sleep', '7777'], {}), '-stdout', '-stderr']);
    assert.equal(await hung.statusLine, 'streams open');
    await sleep(300);
    assert.equal((await processesWith('sleep 7777')).length, 1);
    hung.kill();
    await hung;
    assert.deepEqual(await waitGone('sleep 7777'), [], 'the exec\'d process is killed');

    const tty = runGoClient(goClient, ['hang', await execUrl(id, ['sleep', '7778'], { tty: true }), '-stdout', '-tty']);
    assert.equal(await tty.statusLine, 'streams open');
    await sleep(300);
    tty.kill();
    await tty;
    assert.deepEqual(await waitGone('sleep 7778'), [], 'with a tty too');
    // Reaped too: the container's init (a sleep) would leave a zombie where it stays.
    const ps = (await d.clients.runtime.ExecSync({ container_id: id, cmd: ['ps'], timeout: 10 })).stdout.toString();
    assert.deepEqual(ps.split('\n').filter((l) => l.includes('sleep')).length, 1, ps);

    const att = runGoClient(goClient, ['hang', (await d.clients.runtime.Attach({ container_id: id, stdin: true, stdout: true, stderr: true, tty: false })).url, '-stdin', '-stdout', '-stderr']);
    assert.equal(await att.statusLine, 'streams open');
    att.kill();
    await att;
    assert.deepEqual(await waitGone(`coracle-attach ${join(d.state, 'containers')}`), []);
    assert.equal((await d.clients.runtime.ContainerStatus({ container_id: id })).status!.state, 'CONTAINER_RUNNING');
    const { stdout } = await run('ss', ['-tnH', 'state', 'established']);
    const port = new URL(await execUrl(id, ['true'], {})).port;
    assert.ok(!stdout.includes(`127.0.0.1:${port} `), `no connection left on the streaming port:\n${stdout}`);
  });

  it('refuses bad requests: RPC checks, single-use tokens, protocol negotiation', async () => {
    const id = await start('checks', ['sleep', '3600']);
    const rt = d.clients.runtime;
    const invalid = [
      rt.Exec({ container_id: id, cmd: ['true'], tty: true, stderr: true, stdout: true }),
      rt.Exec({ container_id: id, cmd: ['true'] }),
      rt.Exec({ container_id: id, cmd: [], stdout: true }),
      rt.Exec({ container_id: '', cmd: ['true'], stdout: true }),
      rt.Attach({ container_id: id, tty: true, stderr: true, stdout: true }),
      rt.PortForward({ pod_sandbox_id: pod, port: [70000] }),
      // A websocket port-forward numbers its channels in one byte: 2 per port, 128 ports at most.
      rt.PortForward({ pod_sandbox_id: pod, port: Array.from({ length: 129 }, (_, i) => 1000 + i) }),
    ];
    for (const p of invalid) assert.equal((await codeOf(p)).code, grpc.status.INVALID_ARGUMENT);
    assert.equal((await codeOf(rt.Exec({ container_id: 'nope', cmd: ['true'], stdout: true }))).code, grpc.status.NOT_FOUND);
    assert.equal((await codeOf(rt.PortForward({ pod_sandbox_id: 'nope', port: [80] }))).code, grpc.status.NOT_FOUND);
    const exited = await start('exited', ['true']);
    await sleep(300);
    assert.equal((await codeOf(rt.Exec({ container_id: exited, cmd: ['true'], stdout: true }))).code, grpc.status.FAILED_PRECONDITION);

    const url = await execUrl(id, ['true'], {});
    await spdyExec(url, { stdout: true, stderr: true });
    await assert.rejects(spdyConnect(url, ['v4.channel.k8s.io']), { status: 404 });
    await assert.rejects(spdyConnect(url.replace(/\/exec\//, '/exec/zz'), ['v4.channel.k8s.io']), { status: 404 });
    await assert.rejects(spdyConnect(await execUrl(id, ['true'], {}), []), (e: { status: number; body: string }) => e.status === 400 && /X-Stream-Protocol-Version is required/.test(e.body));
    await assert.rejects(spdyConnect(await execUrl(id, ['true'], {}), ['v9.channel.k8s.io']), (e: { status: number; body: string }) => e.status === 403 && /unable to negotiate protocol/.test(e.body));
    await assert.rejects(wsConnect(await execUrl(id, ['true'], {}), ['nonsense']), { status: 403 });
    const plain = await fetch(await execUrl(id, ['true'], {}));
    assert.equal(plain.status, 400);
  });
});
