import assert from 'node:assert/strict';
import { cliSuite } from '../helpers/cli.js';
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
