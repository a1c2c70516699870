import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { onCleanup } from '../helpers/cleanup.js';
import { cliSuite } from '../helpers/cli.js';
import { CORACLE_BIN } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';

describe('cli: exec, streamed without a tty; -e, -u, -w and -d', function () {
  this.timeout(120_000);
  const t = cliSuite();

  it('prints the output as it comes, stdout and stderr apart, and exits with the command\'s status', async () => {
    const { d, cli, image } = t;
    assert.equal((await cli('run', '-d', '--name', 'box', image, 'sleep', '300')).code, 0);

    // The command waits for /tmp/go after its first lines: they are printed before it ends.
    const child = spawn(process.execPath, [CORACLE_BIN, '-H', `unix://${d.socket}`, 'exec', 'box', 'sh', '-c', 'echo first; echo oops >&2; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo second; exit 7'], { stdio: ['ignore', 'pipe', 'pipe'] });
    onCleanup('kill the exec client', () => child.kill('SIGKILL'));
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let ended = false;
    void exited.then(() => (ended = true));
    await until('the first lines arrive', () => out === 'first\n' && err === 'oops\n');
    assert.equal(ended, false, 'printed while the command still runs');
    assert.equal((await cli('exec', 'box', 'touch', '/tmp/go')).code, 0);
    assert.equal(await exited, 7);
    assert.deepEqual([out, err], ['first\nsecond\n', 'oops\n']);

    const piped = await cli('exec', 'box', 'sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" x; echo; echo done >&2');
    assert.deepEqual([piped.code, piped.stdout.length, piped.stderr], [0, 300_001, 'done\n'], 'more than one frame, whole');
    const missing = await cli('exec', 'nosuch', 'true');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such container: nosuch/);
  });

  it("-e adds or replaces variables, -u runs as a user of the container's, -w in a directory, -d starts and returns; bad values exit 2 naming the flag", async () => {
    const { d, cli, image } = t;
    assert.equal((await cli('run', '-d', '--name', 'box', '-e', 'KEEP=1', '-e', 'OVER=old', image, 'sleep', '300')).code, 0);

    const env = await cli('exec', '-e', 'OVER=new', '-e', 'ADDED=x y', '-e', 'HOME', '-e', 'CORACLE_TEST_SURELY_UNSET', 'box', 'sh', '-c', 'echo "$KEEP $OVER $ADDED $HOME ${CORACLE_TEST_SURELY_UNSET-unset}"');
    assert.deepEqual([env.code, env.stdout], [0, `1 new x y ${process.env.HOME} unset\n`], env.stderr);
    assert.equal((await cli('exec', '-u', 'app', 'box', 'id')).stdout, 'uid=1000(app) gid=1000(app) groups=2000(extra)\n', "a name, its groups from the container's /etc/group");
    assert.equal((await cli('exec', '--user', '1234:5678', 'box', 'id', '-u')).stdout, '1234\n');
    assert.equal((await cli('exec', '-u', 'app:nogroup', 'box', 'id', '-g')).stdout, '65534\n');
    assert.equal((await cli('exec', 'box', 'id', '-u')).stdout, '0\n', "without -u: the container's user");
    const pwd = await cli('exec', '-w', '/tmp', 'box', 'sh', '-c', 'pwd');
    assert.deepEqual([pwd.code, pwd.stdout], [0, '/tmp\n'], pwd.stderr);
    assert.equal((await cli('exec', '-it', '-w', '/etc', '-u', 'app', 'box', 'sh', '-c', 'echo $(pwd) $(id -un)')).code, 0, 'with a tty too');
    const noUser = await cli('exec', '-u', 'nosuchuser', 'box', 'true');
    assert.equal(noUser.code, 1);
    assert.match(noUser.stderr, /user "nosuchuser": not found in the image's \/etc\/passwd/);

    // -d returns while the command still waits for /tmp/go: it runs on, in /tmp, with its variable.
    const detached = await cli('exec', '-d', '-w', '/tmp', '-e', 'K=v', 'box', 'sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.1; done; echo "$(pwd) $K" > out');
    assert.deepEqual([detached.code, detached.stdout], [0, ''], detached.stderr);
    assert.equal((await cli('exec', 'box', 'test', '-e', '/tmp/out')).code, 1, 'not done yet');
    assert.equal((await cli('exec', 'box', 'touch', '/tmp/go')).code, 0);
    await until('the detached command is done', async () => (await cli('exec', 'box', 'cat', '/tmp/out')).stdout === '/tmp v\n');
    const notFound = await cli('exec', '-d', 'box', 'no-such-binary');
    assert.equal(notFound.code, 1);
    assert.match(notFound.stderr, /no-such-binary.*(not found|no such file)/i);
    const running = await d.clients.runtime.ListContainers({});
    assert.equal(running.containers.length, 1, 'no container made by a failing exec');

    for (const [args, named] of [
      [['-e', '=x'], "-e, --env <KEY=VALUE>' argument '=x'"],
      [['-u', 'a:b:c'], "-u, --user <user>' argument 'a:b:c'"],
      [['-u', ''], "-u, --user <user>' argument ''"],
      [['-w', 'relative/dir'], "-w, --workdir <dir>' argument 'relative/dir'"],
    ] as const) {
      const bad = await cli('exec', ...args, 'box', 'true');
      assert.equal(bad.code, 2, args.join(' '));
      assert.ok(bad.stderr.includes(`option '${named} is invalid`), bad.stderr);
    }
  });
});
