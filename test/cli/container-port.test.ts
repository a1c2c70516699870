import assert from 'node:assert/strict';
import { cliSuite } from '../helpers/cli.js';

describe('cli: port', function () {
  this.timeout(180_000);
  const t = cliSuite();

  it("prints a container's mappings as docker does, or one port's host addresses; errors for an unpublished or bad port, an unknown container", async () => {
    const { cli, image } = t;
    // Host ports from the pid, so that tests running side by side do not collide.
    const tcp = 20_000 + (process.pid % 20_000);
    const run = await cli('run', '-d', '--name', 'web', '-p', `127.0.0.1:${tcp}:80`, '-p', `127.0.0.1:${tcp}:53/udp`, image, 'sleep', '300');
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await cli('port', 'web'), { code: 0, stdout: `80/tcp -> 127.0.0.1:${tcp}\n53/udp -> 127.0.0.1:${tcp}\n`, stderr: '' });
    assert.deepEqual(await cli('port', 'web', '80'), { code: 0, stdout: `127.0.0.1:${tcp}\n`, stderr: '' });
    assert.deepEqual(await cli('port', 'web', '80/TCP'), { code: 0, stdout: `127.0.0.1:${tcp}\n`, stderr: '' });
    assert.deepEqual(await cli('port', 'web', '53/udp'), { code: 0, stdout: `127.0.0.1:${tcp}\n`, stderr: '' });
    assert.deepEqual(await cli('port', 'web', '81'), { code: 1, stdout: '', stderr: "coracle: no public port '81/tcp' published for web\n" });
    assert.deepEqual(await cli('port', 'web', '53'), { code: 1, stdout: '', stderr: "coracle: no public port '53/tcp' published for web\n" });
    for (const bad of ['abc', '0', '65536', '80/sctp']) {
      const r = await cli('port', 'web', bad);
      assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`invalid port "${bad}"`));
    }
    assert.deepEqual(await cli('port', 'nosuch'), { code: 1, stdout: '', stderr: 'coracle: no such container: nosuch\n' });
    // None published: nothing printed.
    assert.equal((await cli('run', '-d', '--name', 'plain', image, 'sleep', '300')).code, 0);
    assert.deepEqual(await cli('port', 'plain'), { code: 0, stdout: '', stderr: '' });
  });
});
