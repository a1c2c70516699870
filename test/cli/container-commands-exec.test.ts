import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { onCleanup } from '../helpers/cleanup.js';
import { cliSuite } from '../helpers/cli.js';
import { CORACLE_BIN } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';

describe('cli: exec without a tty, streamed', function () {
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
});
