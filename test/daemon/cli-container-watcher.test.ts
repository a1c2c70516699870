import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { coracle, cliSuite } from '../helpers/cli.js';
import { startTestDaemon, tempDir } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';

describe("daemon: the watcher of CLI containers keeps run's --restart policies, also across a daemon restart", function () {
  this.timeout(180_000);
  const t = cliSuite();

  /** How many times a container has run: each run appends a line to <dir>/runs. */
  const runs = async (dir: string): Promise<number> => (await readFile(join(dir, 'runs'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
  /** The restarts the daemon decided for `id`, from its log: each with its delay. */
  const scheduled = (lines: string[], id: string): number[] =>
    lines
      .filter((l) => l.includes('restart scheduled by its restart policy') && l.includes(id))
      .map((l) => (JSON.parse(l) as { delayMs: number }).delayMs);
  const state = async (socket: string, name: string): Promise<string> => {
    const r = await coracle(socket, ['inspect', name]);
    return r.code === 0 ? (JSON.parse(r.stdout) as { state: string }[])[0]!.state : `(inspect: ${r.stderr})`;
  };
  /** `run -d` of `script` under `policy`, its /data a temp dir of its own: its id and that dir. */
  const runWatched = async (name: string, policy: string, script: string): Promise<{ id: string; dir: string }> => {
    const dir = await tempDir();
    const r = await t.cli('run', '-d', '--name', name, '--restart', policy, '-v', `${dir}:/data`, t.image, 'sh', '-c', script);
    assert.equal(r.code, 0, r.stderr);
    return { id: r.stdout.trim(), dir };
  };
  /** The daemon stops, the container ends while none runs (its /data/go made), and a daemon starts again on the same paths. */
  const endWhileDown = async (id: string, dir: string): Promise<Awaited<ReturnType<typeof startTestDaemon>>> => {
    await t.d.stop();
    // conmon writes its exit file.
    await writeFile(join(dir, 'go'), '');
    await until('its exit to be written', () => existsSync(join(t.d.state, 'containers', 'exits', id)), 60_000, 50);
    return startTestDaemon({ paths: t.d });
  };

  it('on-failure:2 restarts twice, with the backoff doubling from 100 ms, then stays exited; on-failure leaves an exit 0 alone', async () => {
    const { cli, image, d } = t;
    const dir = await tempDir();
    const r = await cli('run', '-d', '--name', 'fails', '--restart', 'on-failure:2', '-v', `${dir}:/data`, image, 'sh', '-c', 'echo run >> /data/runs; exit 3');
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    // The third run has started (its line is written) and then ended: its exit has been read,
    // and with it the daemon's decision about it made.
    await until('the third run to end', async () => (await runs(dir)) >= 3 && (await state(d.socket, 'fails')) === 'exited', 60_000, 50);
    assert.equal(await runs(dir), 3);
    assert.deepEqual(scheduled(d.lines, id), [100, 200]);
    const ps = await cli('ps', '-a');
    assert.match(ps.stdout, /Exited \(3\).*fails/);

    const ok = await cli('run', '-d', '--name', 'succeeds', '--restart', 'on-failure', '-v', `${dir}:/data`, image, 'sh', '-c', 'exit 0');
    await until('it to end', async () => (await state(d.socket, 'succeeds')) === 'exited', 60_000, 50);
    assert.deepEqual(scheduled(d.lines, ok.stdout.trim()), []);
  });

  it('on-failure:2 counts its restarts across a daemon restart: one before it and one after, then no more', async () => {
    // The first run fails at once; the later ones wait for /data/go, then fail.
    const script = 'echo run >> /data/runs; if [ "$(wc -l < /data/runs)" -ge 2 ]; then while [ ! -e /data/go ]; do sleep 0.1; done; fi; exit 3';
    const { id, dir } = await runWatched('counted', 'on-failure:2', script);
    await until('its second run (the first restart)', async () => (await runs(dir)) === 2, 60_000, 50);
    assert.deepEqual(scheduled(t.d.lines, id), [100]);
    const again = await endWhileDown(id, dir);
    const done = (): boolean => again.lines.some((l) => l.includes('its restart policy has made all its restarts') && l.includes(id));
    await until('the policy to be done with it', async () => done(), 60_000, 50);
    // One restart after the daemon's, the second of two: a count kept in memory would have made two.
    assert.equal(scheduled(again.lines, id).length, 1, again.lines.filter((l) => l.includes(id)).join('\n'));
    assert.equal(await runs(dir), 3);
    assert.equal(await state(again.socket, 'counted'), 'exited');
    // By hand, the count starts again (docker's RestartCount): its next failure is restarted.
    await writeFile(join(dir, 'runs'), '');
    assert.equal((await coracle(again.socket, ['start', 'counted'])).code, 0);
    await until('a restart by its policy after the start by hand', async () => scheduled(again.lines, id).length === 2, 60_000, 50);
    assert.equal((await coracle(again.socket, ['rm', '-f', 'counted'])).code, 0);
  });

  it('a stop asked for is not restarted by always; no policy means no restart', async () => {
    const { cli, image, d } = t;
    const r = await cli('run', '-d', '--name', 'stopped', '--restart', 'always', image, 'sleep', '60');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await cli('stop', '-t', '1', 'stopped')).code, 0);
    // The stop returns once the exit is read, and the watcher decides as it is read.
    assert.equal(await state(d.socket, 'stopped'), 'exited');
    assert.deepEqual(scheduled(d.lines, r.stdout.trim()), []);
    const none = await cli('run', '-d', '--name', 'plain', image, 'sh', '-c', 'exit 1');
    await until('it to end', async () => (await state(d.socket, 'plain')) === 'exited', 60_000, 50);
    assert.deepEqual(scheduled(d.lines, none.stdout.trim()), []);
  });

  it('always: a container that ended while the daemon was down runs again when it starts, and goes on being restarted', async () => {
    const { id, dir } = await runWatched('forever', 'always', 'echo run >> /data/runs; while [ ! -e /data/go ]; do sleep 0.1; done; exit 1');
    await until('its first run', async () => (await runs(dir)) === 1);
    const again = await endWhileDown(id, dir);
    await until('it to run again after the restart, and again as it ends at once', async () => (await runs(dir)) >= 3, 60_000, 50);
    assert.ok(scheduled(again.lines, id).length >= 2, again.lines.filter((l) => l.includes(id)).join('\n'));
    assert.equal((await coracle(again.socket, ['rm', '-f', 'forever'])).code, 0);
    assert.equal((await coracle(again.socket, ['ps', '-a', '-q'])).stdout, '');
  });
});
