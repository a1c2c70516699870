import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readlink } from 'node:fs/promises';
import { cliRegistrySuite, cliSuite, tlsCliDaemon } from '../helpers/cli.js';
import { onCleanup } from '../helpers/cleanup.js';
import { CORACLE_BIN } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';

describe('cli: logs --since, --until, -t and -n, as docker', function () {
  this.timeout(120_000);
  const t = cliSuite();

  it('windows the log by time (RFC 3339, relative, Unix seconds), prints times, takes -n for --tail; bad values exit 2 naming the flag', async () => {
    const { cli, image } = t;
    // "three" comes only after an exec has made /tmp/go: strictly later than "one" and "two".
    const run = await cli('run', '-d', '--name', 'talker', image, 'sh', '-c', 'echo one; echo two >&2; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo three; sleep 300');
    assert.equal(run.code, 0, run.stderr);
    await until('the first lines are logged', async () => (await cli('logs', 'talker')).stderr === 'two\n');
    assert.equal((await cli('exec', 'talker', 'touch', '/tmp/go')).code, 0);
    await until('the third line is logged', async () => (await cli('logs', 'talker')).stdout === 'one\nthree\n');

    const stamped = await cli('logs', '-t', 'talker');
    const times = stamped.stdout.trimEnd().split('\n').map((l) => /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (\w+)$/.exec(l));
    assert.deepEqual(times.map((m) => m?.[2]), ['one', 'three'], stamped.stdout);
    assert.match(stamped.stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z two\n$/);
    const [one, three] = times.map((m) => m![1]!);

    assert.equal((await cli('logs', '--since', three!, 'talker')).stdout, 'three\n');
    assert.equal((await cli('logs', '--until', one!, 'talker')).stdout, 'one\n');
    const window = await cli('logs', '--since', one!, '--until', one!, 'talker');
    assert.deepEqual([window.stdout, window.stderr], ['one\n', ''], 'two came after one');
    assert.equal((await cli('logs', '--since', '1h', 'talker')).stdout, 'one\nthree\n', '1h ago: all of it');
    const unix = `${Math.floor(Date.parse(three!) / 1000) + 3600}`;
    assert.equal((await cli('logs', '--since', unix, 'talker')).stdout, '', 'Unix seconds, an hour after');
    assert.equal((await cli('logs', '-n', '1', 'talker')).stdout, 'three\n');
    // Following stops at --until though the container runs on.
    const followed = await cli('logs', '-f', '--until', '0s', 'talker');
    assert.deepEqual([followed.code, followed.stdout], [0, 'one\nthree\n'], followed.stderr);

    for (const [flag, value, named] of [['--since', 'yesterday', '--since <time>'], ['--until', '5x', '--until <time>'], ['-n', 'some', '-n, --tail <n>']] as const) {
      const bad = await cli('logs', flag, value, 'talker');
      assert.equal(bad.code, 2, `${flag} ${value}`);
      assert.match(bad.stderr, new RegExp(`option '${named.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' argument '${value}' is invalid`));
    }
  });
});

describe('cli: logs over tcp://, from a daemon with mutual TLS', function () {
  this.timeout(120_000);
  const fx = cliRegistrySuite();

  it('prints the log and follows it until the container ends; a killed follower leaves no file open in the daemon; a stop ends the followers', async () => {
    const { d, remoteArgs, local, overTls } = await tlsCliDaemon(fx.registry);
    /** `logs -f` over TLS as a process of its own: what it printed so far, and its exit. */
    const follow = (name: string): { out: () => string; exited: Promise<number | null>; kill: () => void } => {
      const child = spawn(process.execPath, [CORACLE_BIN, ...remoteArgs, 'logs', '-f', name], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (t: string) => (out += t));
      child.stderr.resume();
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      onCleanup(`kill logs -f ${name}`, () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
      return { out: () => out, exited, kill: () => child.kill('SIGKILL') };
    };

    const run = await local('run', '-d', '--name', 'printer', fx.image, 'sh', '-c', 'echo one; echo two >&2; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo three');
    assert.equal(run.code, 0, run.stderr);
    await until('the first lines are logged', async () => (await overTls('logs', 'printer')).stderr === 'two\n');
    const f = follow('printer');
    await until(() => `logs -f prints what is there (so far: ${JSON.stringify(f.out())})`, () => f.out() === 'one\n');
    assert.equal((await local('exec', 'printer', 'touch', '/tmp/go')).code, 0);
    assert.equal(await f.exited, 0, 'logs -f ends when the container does');
    assert.equal(f.out(), 'one\nthree\n');
    const all = await overTls('logs', 'printer');
    assert.deepEqual([all.code, all.stdout, all.stderr], [0, 'one\nthree\n', 'two\n']);
    assert.equal((await overTls('logs', '-n', '1', 'printer')).stdout, 'three\n');
    assert.match((await overTls('logs', '-t', 'printer')).stdout, /^\d{4}-\d\d-\d\dT[\d:]{8}\.\d{9}Z one\n/);
    const missing = await overTls('logs', 'nosuch');
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /nosuch/);

    assert.equal((await local('run', '-d', '--name', 'sleeper', fx.image, 'sh', '-c', 'echo hi; sleep 300')).code, 0);
    const logPath = (await local('inspect', '-f', '{{.LogPath}}', 'sleeper')).stdout.trim();
    assert.match(logPath, /\.log$/);
    const daemonFdsOn = async (path: string): Promise<number> => {
      const fds = await readdir(`/proc/${d.proc.pid}/fd`);
      const links = await Promise.all(fds.map((fd) => readlink(`/proc/${d.proc.pid}/fd/${fd}`).catch(() => '')));
      return links.filter((l) => l === path).length;
    };
    const g = follow('sleeper');
    await until('logs -f prints the line', () => g.out() === 'hi\n');
    assert.equal(await daemonFdsOn(logPath), 1, 'the daemon holds the log open while it is followed');
    g.kill();
    await g.exited;
    await until('the daemon closes the log once its follower is gone', async () => (await daemonFdsOn(logPath)) === 0);

    // A stopping daemon ends what is followed, rather than wait for it until its grace runs out.
    const h = follow('sleeper');
    await until('logs -f prints the line again', () => h.out() === 'hi\n');
    await d.stop();
    assert.equal(await h.exited, 0, 'logs -f ends with the daemon');
    assert.ok(!d.lines.some((l) => l.includes('in-flight calls did not finish in time')), d.lines.join('\n'));
  });
});

