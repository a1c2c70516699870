import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { connect as h2connect } from 'node:http2';
import { connect as netConnect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { onCleanup } from '../helpers/cleanup.js';
import { criClients } from '../helpers/cri-client.js';
import { DAEMON_BUNDLE } from '../../src/util/package-root.js';
import { DAEMON_ENV, DAEMON_V8_FLAGS } from '../../src/util/reexec.js';
import {
  CORACLE_BIN,
  spawnCoracle,
  startTestDaemon,
  tempDir,
  waitServing,
  writeTestConfig,
  type DaemonPaths,
  type TestDaemon,
} from '../helpers/daemon.js';

describe('daemon lifecycle', () => {
  it('makes the socket 0660 in a 0700 dir, and removes it on SIGTERM', async () => {
    const d = await startTestDaemon();
    assert.equal((await stat(d.socket)).mode & 0o777, 0o660);
    assert.equal((await stat(join(d.socket, '..'))).mode & 0o777, 0o700);
    assert.ok((await stat(d.socket)).isSocket());
    const exit = await d.stop();
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.equal(existsSync(d.socket), false);
    assert.ok(d.lines.some((l) => l.includes('"coracle stopped"')));
  });

  it('a SIGTERM while the daemon starts stops it once started: exit 0, its socket removed', async () => {
    const paths = await writeTestConfig(await tempDir());
    const d = spawnCoracle(['--config', paths.configPath, 'serve']);
    // 'config loaded' comes before the start (recovery, the listener): the signal lands in it.
    for (const deadline = Date.now() + 15_000; !d.lines.some((l) => l.includes('"config loaded"')); ) {
      assert.ok(Date.now() < deadline && d.proc.exitCode === null, `no 'config loaded':\n${d.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    d.proc.kill('SIGTERM');
    assert.deepEqual(await d.exited, { code: 0, signal: null }, d.lines.join('\n'));
    const text = d.lines.join('\n');
    assert.match(text, /"signal received".*"step":"start"/);
    assert.match(text, /"coracle serving"[\s\S]*"coracle stopped"/);
    assert.equal(existsSync(paths.socket), false);
  });

  it('re-executes itself into its bundle with the V8 heap flags: the same pid, its log on the same stderr; the CLI still answers', async () => {
    const d = await startTestDaemon();
    // The pid the test spawned serves (its log came through the pipe) with the flags on its command line.
    const argv = (await readFile(`/proc/${d.proc.pid}/cmdline`, 'utf8')).split('\0');
    for (const flag of DAEMON_V8_FLAGS) {
      assert.ok(argv.includes(flag), `${flag} in ${argv.join(' ')}`);
      assert.equal(argv.filter((a) => a === flag).length, 1, `${flag} once: no second exec`);
    }
    // The build's bundle (npm run build), with the arguments the test gave the CLI.
    assert.ok(argv.includes(DAEMON_BUNDLE) && !argv.includes(CORACLE_BIN) && argv.includes('serve'), argv.join(' '));
    // And the daemon's environment (glibc's one malloc arena), which the test did not set.
    const environ = (await readFile(`/proc/${d.proc.pid}/environ`, 'utf8')).split('\0');
    for (const [k, v] of Object.entries(DAEMON_ENV)) assert.ok(environ.includes(`${k}=${v}`), `${k}=${v} in the daemon's environment`);
    await d.clients.runtime.Version({});
    const exit = await d.stop();
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(d.lines.some((l) => l.includes('"config loaded"')) && d.lines.some((l) => l.includes('"coracle stopped"')), d.lines.join('\n'));
    const version = execFileSync(process.execPath, [CORACLE_BIN, '--version'], { encoding: 'utf8' });
    assert.match(version, /^\d+\.\d+\.\d+\n$/);
  });

  it('passes over a bundle older than a module tsc wrote since (a tsc alone after the build): it serves from tsc\'s output', async () => {
    // A module of tsc's output made newer than the bundle, as `tsc -w` would; put back after.
    const module = join(dirname(CORACLE_BIN), '..', 'version.js');
    const { atime, mtime } = await stat(module);
    await utimes(module, atime, new Date((await stat(DAEMON_BUNDLE)).mtimeMs + 60_000));
    try {
      const d = await startTestDaemon();
      const argv = (await readFile(`/proc/${d.proc.pid}/cmdline`, 'utf8')).split('\0');
      assert.ok(argv.includes(CORACLE_BIN) && !argv.includes(DAEMON_BUNDLE), argv.join(' '));
      assert.ok(DAEMON_V8_FLAGS.every((f) => argv.includes(f)), argv.join(' '));
      await d.clients.runtime.Version({});
    } finally {
      await utimes(module, atime, mtime);
    }
  });

  it('replaces a stale socket left by a killed daemon', async () => {
    const d = await startTestDaemon();
    d.proc.kill('SIGKILL');
    await d.exited;
    assert.ok((await stat(d.socket)).isSocket(), 'the killed daemon left its socket');
    const again = spawnCoracle(['--config', d.configPath, 'serve']);
    await waitServing(again);
    const c = criClients(d.socket);
    onCleanup('close', () => c.close());
    assert.equal((await c.runtime.Version({})).runtime_name, 'coracle');
  });

  /** A second daemon on the root or the socket of a first: it exits 1 and the first serves on. */
  const sharing: { field: 'root' | 'socket'; named: string; check: (first: TestDaemon, second: DaemonPaths) => Promise<void> }[] = [
    { field: 'root', named: 'root dir', check: async (_, second) => assert.equal(existsSync(second.socket), false, 'the refused daemon made no socket') },
    { field: 'socket', named: 'socket', check: async (first) => assert.ok((await stat(first.socket)).isSocket(), 'the first daemon keeps its socket') },
  ];
  for (const { field, named, check } of sharing) {
    it(`refuses a second daemon on the same ${field}, naming the first one`, async () => {
      const first = await startTestDaemon();
      const paths = await writeTestConfig(await tempDir());
      // The first daemon's root or socket, everything else its own.
      await writeFile(paths.configPath, (await readFile(paths.configPath, 'utf8')).replace(paths[field], first[field]));
      const second = spawnCoracle(['--config', paths.configPath, 'serve']);
      const exit = await second.exited;
      assert.equal(exit.code, 1);
      assert.match(second.lines.join('\n'), new RegExp(`${named} ${first[field]} is in use by another coracle daemon \\(pid ${first.proc.pid}\\)`));
      await check(first, paths);
      assert.equal((await first.clients.runtime.Version({})).runtime_name, 'coracle', 'the first daemon is unharmed');
    });
  }

  it('leaves alone a socket that another program listens on', async () => {
    const paths = await writeTestConfig(await tempDir());
    execFileSync('mkdir', ['-p', join(paths.socket, '..')]);
    const other = createServer(() => undefined);
    await new Promise<void>((r) => other.listen(paths.socket, r));
    onCleanup('close other server', () => new Promise((r) => other.close(r)));
    const d = spawnCoracle(['--config', paths.configPath, 'serve']);
    assert.equal((await d.exited).code, 1);
    assert.match(d.lines.join('\n'), /another program is listening on it/);
    assert.ok((await stat(paths.socket)).isSocket());
  });

  it('finishes an in-flight call on SIGTERM while refusing new connections', async () => {
    const d = await startTestDaemon();
    // A raw HTTP/2 stream whose request is only half sent: the call is in flight.
    const session = h2connect('http://localhost', { createConnection: () => netConnect(d.socket) });
    onCleanup('close h2 session', () => session.destroy());
    const stream = session.request({
      ':method': 'POST',
      ':path': '/runtime.v1.RuntimeService/Version',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const frame = Buffer.from([0, 0, 0, 0, 0]); // uncompressed, length 0: an empty VersionRequest
    stream.write(frame.subarray(0, 2));
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const trailers = new Promise<Record<string, unknown>>((r) => stream.on('trailers', (t) => r(t)));
    await new Promise((r) => setTimeout(r, 200));

    d.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(d.proc.exitCode, null, 'the daemon waits for the call');
    const late = criClients(d.socket);
    onCleanup('close late', () => late.close());
    await assert.rejects(late.runtime.Version({}, { deadline: Date.now() + 1000 }), 'new calls are refused');

    stream.end(frame.subarray(2));
    const t = await trailers;
    assert.equal(t['grpc-status'], '0');
    const body = Buffer.concat(chunks);
    assert.ok(body.includes(Buffer.from('coracle')), 'the response arrived');
    session.close();
    assert.deepEqual(await d.exited, { code: 0, signal: null });
    assert.equal(existsSync(d.socket), false);
  });

  it('exits 2 and names file, line and key for a bad config', async () => {
    const paths = await writeTestConfig(await tempDir(), { extra: '[streaming]\naddress = 8080\nport = 1\n' });
    const d = spawnCoracle(['--config', paths.configPath, 'serve']);
    const exit = await d.exited;
    assert.equal(exit.code, 2);
    const text = d.lines.join('\n');
    assert.match(text, new RegExp(`${paths.configPath}:\\d+: key streaming.address: expected string, got integer`));
    assert.match(text, new RegExp(`${paths.configPath}:\\d+: unknown key streaming.port`));
  });

  it('prints the embedded defaults, which load back as they are', async () => {
    const dir = await tempDir();
    const out = execFileSync(process.execPath, [CORACLE_BIN, 'config', 'default'], { encoding: 'utf8' });
    assert.match(out, /^root = "\/var\/lib\/coracle"$/m);
    await writeFile(join(dir, 'c.toml'), out);
    const check = execFileSync(process.execPath, [CORACLE_BIN, '--config', join(dir, 'c.toml'), 'config', 'check'], { encoding: 'utf8' });
    assert.equal((JSON.parse(check) as { grpc: { socket: string } }).grpc.socket, '/run/coracle/coracle.sock');
  });
});
