import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { connect as tlsConnect } from 'node:tls';
import pty from 'node-pty';
import { WebSocket } from 'ws';
import { CLI_NAMESPACE } from '../../src/cli/cli-namespace.js';
import { onCleanup } from '../helpers/cleanup.js';
import { cliRegistry, type CliResult } from '../helpers/cli.js';
import { criClients } from '../helpers/cri-client.js';
import { CORACLE_BIN, startTestDaemon, tempDir, type TestDaemon } from '../helpers/daemon.js';
import { TestPki, type CertFiles } from '../helpers/pki.js';
import { grpcHeaders, rawGrpcCall } from '../helpers/raw-h2-client.js';
import { freePort, type TestRegistry } from '../helpers/test-registry.js';
import { until } from '../helpers/until.js';

/** Waits until the daemon has logged a line matching `re`. */
async function logged(d: TestDaemon, re: RegExp): Promise<void> {
  await until(() => `log line ${re}:\n${d.lines.join('\n')}`, () => d.lines.some((l) => re.test(l)), 15_000);
}

/** A websocket to `path` on the daemon's TLS listener, as `who` (none: no client certificate). */
function wsOver(port: number, path: string, ca: Buffer, who: { cert: Buffer; key: Buffer } | undefined): Promise<{ ws: WebSocket; messages: { channel: number; data: Buffer }[]; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}${path}`, ['v5.channel.k8s.io'], { ca, ...(who ?? {}), ALPNProtocols: ['http/1.1'] } as object);
    onCleanup('close a test websocket', () => ws.terminate());
    const messages: { channel: number; data: Buffer }[] = [];
    // Listening before 'open': a frame that came with the upgrade is emitted in the same tick.
    ws.on('message', (data: Buffer) => messages.push({ channel: data[0]!, data: data.subarray(1) }));
    const closed = new Promise<void>((r) => ws.once('close', () => r()));
    ws.once('open', () => resolve({ ws, messages, closed }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body })));
    });
    ws.once('error', reject);
  });
}

const text = (messages: { channel: number; data: Buffer }[], channel: number): string => Buffer.concat(messages.filter((m) => m.channel === channel).map((m) => m.data)).toString();

describe('cri/listen: streaming (run -i, exec, attach) over the mutual-TLS listener', function () {
  this.timeout(180_000);
  let registry: TestRegistry;
  let image: string;
  before(async () => {
    ({ registry, image } = await cliRegistry());
  });
  after(async () => {
    await registry?.stop();
  });

  /** A daemon serving tcp:// with mutual TLS, allowing DNS:client only; the CLI against it as `client`. */
  async function remoteDaemon(): Promise<{ d: TestDaemon; port: number; ca: Buffer; files: Record<'client' | 'other', { cert: Buffer; key: Buffer }>; cli: (args: string[], input?: string) => Promise<CliResult>; flags: string[]; config: string }> {
    const pki = new TestPki(await tempDir());
    const ca = (await pki.ca('ca')).cert;
    const server = await pki.signed('server', 'ca', 'IP:127.0.0.1');
    const client = await pki.signed('client', 'ca', 'DNS:client');
    const other = await pki.signed('other', 'ca', 'DNS:other');
    const port = await freePort();
    const remote = `[remote]\nlisten = "tcp://127.0.0.1:${port}"\nca = "${ca}"\ncert = "${server.cert}"\nkey = "${server.key}"\nallowed_sans = ["DNS:client"]\n`;
    const d = await startTestDaemon({ network: true, clusterNetwork: true, mirrors: { [registry.host]: registry.url }, extra: remote });
    const read = async (f: CertFiles): Promise<{ cert: Buffer; key: Buffer }> => ({ cert: await readFile(f.cert), key: await readFile(f.key) });
    const flags = ['-H', `tcp://127.0.0.1:${port}`, '--tlscacert', ca, '--tlscert', client.cert, '--tlskey', client.key];
    const cli = (args: string[], input?: string): Promise<CliResult> =>
      new Promise((resolve) => {
        const argv = [CORACLE_BIN, ...flags, ...args];
        const child = execFile(process.execPath, argv, { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
        child.stdin?.end(input);
      });
    return { d, port, ca: await readFile(ca), files: { client: await read(client), other: await read(other) }, cli, flags, config: await readFile(d.configPath, 'utf8') };
  }

  it('run -i, exec -i, exec -it and attach over -H tcp:// stream through the TLS listener, not the loopback streaming port', async () => {
    const { d, cli, flags } = await remoteDaemon();
    const run = await cli(['run', '-i', image, 'cat'], 'hi\n');
    assert.deepEqual([run.code, run.stdout], [0, 'hi\n'], run.stderr);
    // As docker run -i: made with stdin_once, so that the end of the input is the container's
    // and the attach lasts to the end of its output (not a detach at the input's end).
    const c = criClients(d.socket, CLI_NAMESPACE);
    try {
      const [made] = (await c.runtime.ListContainers({})).containers;
      const record = JSON.parse((await c.runtime.ContainerStatus({ container_id: made!.id, verbose: true })).info.info ?? '{}') as { stdinOnce?: boolean };
      assert.equal(record.stdinOnce, true);
    } finally {
      c.close();
    }

    assert.equal((await cli(['run', '-d', '--name', 'box', image, 'sleep', '300'])).code, 0);
    const exec = await cli(['exec', '-i', 'box', 'sh', '-c', 'cat; echo oops >&2; exit 3'], 'piped\n');
    // (Its stderr may start with Node's DEP0123 warning: grpc-js sends an IP address as the TLS server name.)
    assert.deepEqual([exec.code, exec.stdout], [3, 'piped\n']);
    assert.match(exec.stderr, /(^|\n)oops\n$/);
    const tty = await cli(['exec', '-it', 'box', 'sh', '-c', 'test -t 0 && echo a-tty']);
    assert.deepEqual([tty.code, tty.stdout], [0, 'a-tty\r\n'], tty.stderr + ' (no local terminal: the container has one still)');

    // A container that echoes its stdin until "quit": attach gives it ours. Stdin stays open
    // until the end: at its end an attach detaches, and could before the output came.
    assert.equal((await cli(['run', '-d', '-i', '--name', 'echoer', image, 'sh', '-c', 'while read l; do echo "got $l"; [ "$l" = quit ] && exit 4; done'])).code, 0);
    const attach = spawn(process.execPath, [CORACLE_BIN, ...flags, 'attach', 'echoer'], { stdio: ['pipe', 'pipe', 'pipe'] });
    onCleanup('kill the attach client', () => attach.kill('SIGKILL'));
    let attached = '';
    attach.stdout.on('data', (b: Buffer) => (attached += b.toString()));
    const attachExit = new Promise<number | null>((resolve) => attach.on('exit', (c) => resolve(c)));
    // Until the attach is up, a line may go to the container before anyone hears its answer: sent again.
    await until('the attach echoes', () => {
      if (attached === '') attach.stdin.write('a\n');
      return attached.startsWith('got a\n');
    }, 30_000, 300);
    attach.stdin.write('quit\n');
    assert.equal(await attachExit, 4);
    assert.match(attached, /^(got a\n)+got quit\n$/);

    // On a terminal: run -it at the terminal's size, Ctrl+P Ctrl+Q, attach again, exec -it.
    const term = (args: string[], cols: number, rows: number): { output: () => string; write(s: string): void; exited: Promise<number> } => {
      const p = pty.spawn(process.execPath, [CORACLE_BIN, ...flags, ...args], { cols, rows, env: process.env as Record<string, string> });
      onCleanup('kill the terminal', () => p.kill());
      let out = '';
      p.onData((chunk) => (out += chunk));
      return { output: () => out, write: (chunk) => p.write(chunk), exited: new Promise((resolve) => p.onExit(({ exitCode }) => resolve(exitCode))) };
    };
    const session = term(['run', '-it', '--name', 'tty1', image, 'sh'], 100, 30);
    await until(() => `the shell answers: ${session.output()}`, () => {
      session.write('echo hi-$((1+1)); busybox stty size\r');
      return /hi-2\r+\n30 100\r+\n/.test(session.output());
    }, 30_000, 500);
    session.write('\x10\x11');
    assert.equal(await session.exited, 0, session.output());
    assert.match((await cli(['ps'])).stdout, /Up .*\s+tty1\n/, 'detached: still running');
    const again = term(['attach', 'tty1'], 80, 24);
    await until(() => `the shell answers again: ${again.output()}`, () => {
      again.write('echo back-$((3+4))\r');
      return /back-7/.test(again.output());
    }, 30_000, 500);
    again.write('exit 7\r');
    assert.equal(await again.exited, 7, again.output());
    const ttyExec = term(['exec', '-it', 'box', 'sh', '-c', 'busybox stty size; exit 5'], 91, 17);
    assert.equal(await ttyExec.exited, 5, ttyExec.output());
    assert.match(ttyExec.output(), /17 91/);

    assert.ok(!d.lines.some((l) => /TLS client refused/.test(l)), 'nothing refused');
    const overTls = d.lines.filter((l) => /TLS client: a streaming connection.*"subject":"CN=client"/.test(l)).length;
    assert.equal(overTls, 7, 'each session (run -i, exec -i, exec -it, attach, run -it, attach, exec -it) came over the TLS listener');
  });

  it('refuses a certificate not in the allow-list (403) and a client without one, answers a bad token 404; a narrowed allow-list closes open sessions', async () => {
    const { d, port, ca, files, cli, config } = await remoteDaemon();
    assert.equal((await cli(['run', '-d', '--name', 'box', image, 'sleep', '300'])).code, 0);
    const cri = criClients(d.socket, CLI_NAMESPACE);
    onCleanup('close the CLI namespace clients', () => cri.close());
    const [box] = (await cri.runtime.ListContainers({})).containers;
    const execPath = async (cmd: string[], stdin = false): Promise<string> => new URL((await cri.runtime.Exec({ container_id: box!.id, cmd, stdin, stdout: true, stderr: true })).url).pathname;

    // Refused before the token is looked at: it stays good for an allowed client.
    const path = await execPath(['echo', 'served']);
    const refused = await wsOver(port, path, ca, files.other).then(() => undefined, (err: { status?: number; body?: string }) => err);
    assert.equal(refused?.status, 403);
    assert.equal(refused?.body, `client certificate "CN=other" is not allowed by the daemon's remote.allowed_subjects or remote.allowed_sans\n`);
    await logged(d, /"level":"warn".*TLS client refused.*"protocol":"http\/1.1".*"subject":"CN=other"/);
    const bare = await wsOver(port, path, ca, undefined).then(() => 'opened', (err: Error) => err.message);
    assert.notEqual(bare, 'opened', 'no client certificate, no connection');
    const served = await wsOver(port, path, ca, files.client);
    await served.closed;
    assert.equal(text(served.messages, 1), 'served\n');

    const bad = await wsOver(port, '/exec/nosuchtoken', ca, files.client).then(() => undefined, (err: { status?: number; body?: string }) => err);
    assert.deepEqual([bad?.status, bad?.body], [404, '404 page not found\n']);
    const used = await wsOver(port, path, ca, files.client).then(() => undefined, (err: { status?: number }) => err);
    assert.equal(used?.status, 404, 'a token serves once');

    // A client that negotiates no protocol speaks HTTP/1.1 (RFC 7301): the streaming server's.
    // gRPC needs ALPN h2 (grpc-js's HTTP/2 server closes a TLS connection without it).
    const noAlpn = { host: '127.0.0.1', port, ca, ...files.client };
    const http1 = tlsConnect(noAlpn);
    onCleanup('close a raw TLS socket', () => http1.destroy());
    http1.end('GET /exec/nosuchtoken HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    let answer = '';
    http1.on('data', (b: Buffer) => (answer += b.toString('latin1')));
    await new Promise((r) => http1.once('close', r));
    assert.match(answer, /^HTTP\/1\.1 404 /);
    const h2 = tlsConnect({ ...noAlpn, ALPNProtocols: ['h2'] });
    onCleanup('close a raw TLS socket', () => h2.destroy());
    const call = await rawGrpcCall(h2, grpcHeaders('/runtime.v1.RuntimeService/Version', '127.0.0.1'));
    assert.match(call.data.toString('latin1'), /coracle/, 'h2 on the same listener still serves gRPC');

    // An open session whose certificate SIGHUP's allow-list no longer names is closed.
    const open = await wsOver(port, await execPath(['cat'], true), ca, files.client);
    open.ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('ping\n')]));
    await until('the session echoes', () => text(open.messages, 1) === 'ping\n');
    await writeFile(d.configPath, config.replace('allowed_sans = ["DNS:client"]', 'allowed_sans = ["DNS:other"]'));
    d.proc.kill('SIGHUP');
    await logged(d, /"closedConnections":1,.*"message":"remote: allow-lists reloaded"/);
    await open.closed;
  });
});
