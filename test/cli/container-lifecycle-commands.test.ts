import assert from 'node:assert/strict';
import { cliSuite } from '../helpers/cli.js';
import { until } from '../helpers/until.js';

describe('cli: kill, restart, wait', function () {
  this.timeout(180_000);
  const t = cliSuite();

  const state = async (name: string): Promise<string> => {
    const r = await t.cli('inspect', name);
    return r.code === 0 ? ((JSON.parse(r.stdout) as { state: string }[])[0]?.state ?? '(none)') : `(inspect failed: ${r.stderr})`;
  };
  const count = async (): Promise<number> => (await t.cliCri.runtime.ListContainers({})).containers.length;

  it('kill sends KILL by default, -s by name or number; wait prints each exit code in the order given', async () => {
    const { cli, image } = t;
    assert.equal((await cli('run', '-d', '--name', 'k1', image, 'sleep', '300')).code, 0);
    // The init of a pid namespace ignores the signals it has no handler for: sh traps TERM and
    // USR1 to exit 7 and 8, to tell which one reached it.
    const trap = "trap 'exit 7' TERM; trap 'exit 8' USR1; while :; do sleep 1; done";
    for (const n of ['k2', 'k3']) {
      const r = await cli('run', '-d', '--name', n, image, 'sh', '-c', trap);
      assert.equal(r.code, 0, r.stderr);
    }
    const waited = cli('wait', 'k1', 'k2', 'k3');
    assert.deepEqual(await cli('kill', 'k1'), { code: 0, stdout: 'k1\n', stderr: '' });
    assert.deepEqual(await cli('kill', '-s', 'term', 'k2'), { code: 0, stdout: 'k2\n', stderr: '' });
    assert.deepEqual(await cli('kill', '--signal', '10', 'k3'), { code: 0, stdout: 'k3\n', stderr: '' });
    assert.deepEqual(await waited, { code: 0, stdout: '137\n7\n8\n', stderr: '' });
  });

  it('kill: a stopped or unknown container is an error (exit 1, the others still done); a bad signal is a usage error', async () => {
    const { cli, image } = t;
    assert.equal((await cli('run', '--name', 'done', image, 'true')).code, 0);
    assert.equal((await cli('run', '-d', '--name', 'live', image, 'sleep', '300')).code, 0);
    const r = await cli('kill', 'done', 'nosuch', 'live');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, 'live\n');
    assert.match(r.stderr, /^coracle: .*container [0-9a-f]{64}: signal 9: is exited, not running\ncoracle: no such container: nosuch\n$/);
    assert.equal(await state('live'), 'exited');
    for (const bad of ['NOSUCH', '0', '65', '9x', '']) {
      const u = await cli('kill', '-s', bad, 'live');
      assert.equal(u.code, 2, `${bad}: ${u.stderr}`);
      assert.match(u.stderr, new RegExp(`option '-s, --signal <signal>' argument '${bad}' is invalid`));
    }
    assert.equal(await count(), 2);
  });

  it('restart stops a running container and runs it again, and starts an exited one; -t bad is a usage error', async () => {
    const { cli, image } = t;
    // Each run appends a line to a file in its own filesystem: a restart keeps it.
    const run = await cli('run', '-d', '--name', 'rs', image, 'sh', '-c', 'echo run >> /runs; sleep 300');
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await cli('restart', '-t', '1', 'rs'), { code: 0, stdout: 'rs\n', stderr: '' });
    assert.equal(await state('rs'), 'running');
    await until('the second run', async () => (await cli('exec', 'rs', 'cat', '/runs')).stdout === 'run\nrun\n');
    assert.equal((await cli('stop', '-t', '0', 'rs')).code, 0);
    assert.deepEqual(await cli('restart', 'rs'), { code: 0, stdout: 'rs\n', stderr: '' });
    assert.equal(await state('rs'), 'running');
    await until('the third run', async () => (await cli('exec', 'rs', 'cat', '/runs')).stdout === 'run\nrun\nrun\n');

    const bad = await cli('restart', '-t', 'abc', 'rs');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /option '-t, --time <seconds>' argument 'abc' is invalid/);
    const unknown = await cli('restart', 'nosuch');
    assert.deepEqual([unknown.code, unknown.stderr], [1, 'coracle: no such container: nosuch\n']);
    assert.equal(await count(), 1);
  });

  it('wait: an exited container at once, an unknown one is an error (exit 1) and the others still printed', async () => {
    const { cli, image } = t;
    assert.equal((await cli('run', '--name', 'three', image, 'sh', '-c', 'exit 3')).code, 3);
    const r = await cli('wait', 'nosuch', 'three');
    assert.deepEqual(r, { code: 1, stdout: '3\n', stderr: 'coracle: no such container: nosuch\n' });
    // One that is running when asked, and exits on its own later.
    assert.equal((await cli('run', '-d', '--name', 'later', image, 'sh', '-c', 'while [ ! -e /go ]; do sleep 0.1; done; exit 5')).code, 0);
    const waited = cli('wait', 'later');
    assert.equal((await cli('exec', 'later', 'touch', '/go')).code, 0);
    assert.deepEqual(await waited, { code: 0, stdout: '5\n', stderr: '' });
  });
});
