import assert from 'node:assert/strict';
import { readlink } from 'node:fs/promises';
import { cliSuite, podsAndContainers } from '../helpers/cli.js';

describe("cli: run's flags as docker's: -w, -u, --hostname, --network, --memory, --cpus, -l, pull progress; bad values exit 2", function () {
  this.timeout(180_000);
  const t = cliSuite();

  const made = (): ReturnType<typeof podsAndContainers> => podsAndContainers(t.d);

  it('each flag is seen inside the container; run pulls with progress on stderr', async () => {
    const { cli, image } = t;
    // Not pulled yet: run pulls it, showing each layer as `pull` does, on stderr.
    const first = await cli('run', '--rm', '-w', '/tmp', image, 'sh', '-c', 'pwd');
    assert.deepEqual([first.code, first.stdout], [0, '/tmp\n'], first.stderr);
    assert.match(first.stderr, /Unable to find image '.*cli\/busybox:v1' locally/);
    assert.match(first.stderr, /: Pull complete\n/);
    assert.match(first.stderr, /Status: pulled /);
    // Here now: no pull, nothing on stderr.
    const again = await cli('run', '--rm', '--workdir', '/etc', image, 'sh', '-c', 'pwd');
    assert.deepEqual([again.code, again.stdout, again.stderr], [0, '/etc\n', '']);

    const uid = await cli('run', '--rm', '-u', '1234', image, 'sh', '-c', 'echo $(id -u) $(id -g)');
    assert.deepEqual([uid.code, uid.stdout], [0, '1234 0\n'], uid.stderr);
    const both = await cli('run', '--rm', '--user', '1234:5678', image, 'sh', '-c', 'echo $(id -u) $(id -g)');
    assert.deepEqual([both.code, both.stdout], [0, '1234 5678\n'], both.stderr);
    // A name the image's /etc/passwd does not have: the daemon refuses the run (125), leaving nothing.
    const before = await made();
    const nobody = await cli('run', '--rm', '-u', 'no-such-user', image, 'true');
    assert.equal(nobody.code, 125, nobody.stderr);
    assert.match(nobody.stderr, /no-such-user/);
    assert.deepEqual(await made(), before);

    const host = await cli('run', '--rm', '--hostname', 'web-1.example', image, 'cat', '/proc/sys/kernel/hostname');
    assert.deepEqual([host.code, host.stdout], [0, 'web-1.example\n'], host.stderr);

    // /proc/net/dev lists the interfaces of the reader's network namespace.
    const ifaces = (out: string): string[] => out.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();
    const none = await cli('run', '--rm', '--network', 'none', image, 'cat', '/proc/net/dev');
    assert.equal(none.code, 0, none.stderr);
    assert.deepEqual(ifaces(none.stdout), ['lo']);
    const own = await cli('run', '--rm', image, 'cat', '/proc/net/dev');
    assert.deepEqual(ifaces(own.stdout), ['eth0', 'lo'], 'the default network has eth0');
    const shared = await cli('run', '--rm', '--network', 'host', image, 'ls', '-l', '/proc/self/ns/net');
    assert.equal(shared.code, 0, shared.stderr);
    assert.equal(/-> (\S+)$/.exec(shared.stdout.trim())?.[1], await readlink('/proc/self/ns/net'), shared.stdout);

    // cgroup v1: the container sees its own memory and cpu cgroups' files.
    const limits = await cli('run', '--rm', '--memory', '64m', '--cpus', '1.5', image, 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us', '/sys/fs/cgroup/cpu/cpu.cfs_period_us');
    assert.deepEqual([limits.code, limits.stdout], [0, `${64 * 1024 * 1024}\n150000\n100000\n`], limits.stderr);
    const gig = await cli('run', '--rm', '-m', '1g', '--cpus', '.5', image, 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us');
    assert.deepEqual([gig.code, gig.stdout], [0, `${1024 ** 3}\n50000\n`], gig.stderr);

    assert.equal((await cli('run', '-d', '--name', 'labelled', '-l', 'tier=web', '--label', 'team=a=b', '-l', 'bare', image, 'true')).code, 0);
    const inspected = await cli('inspect', 'labelled');
    const labels = (JSON.parse(inspected.stdout) as { labels: Record<string, string> }[])[0]!.labels;
    assert.deepEqual([labels.tier, labels.team, labels.bare], ['web', 'a=b', '']);
    assert.equal((await cli('rm', '-f', 'labelled')).code, 0);
  });

  it('each bad value exits 2 naming the flag and the value, and makes nothing', async () => {
    const { cli, image } = t;
    assert.equal((await cli('pull', image)).code, 0);
    const before = await made();
    const cases: [string, string][] = [
      ['--memory', '5m'],
      ['--memory', 'abc'],
      ['-m', '12x'],
      ['--cpus', '0'],
      ['--cpus', 'lots'],
      ['--cpus', '-1'],
      ['-u', 'a b'],
      ['--user', '1000:staff'],
      ['--network', 'bridge0'],
      ['--restart', 'sometimes'],
      ['--restart', 'on-failure:x'],
      ['-l', '=v'],
      ['-w', 'relative/dir'],
      ['--hostname', 'bad_host!'],
    ];
    for (const [flag, value] of cases) {
      const r = await cli('run', flag, value, image, 'true');
      assert.equal(r.code, 2, `${flag} ${value}: ${r.stderr}`);
      assert.ok(r.stderr.includes(flag) && r.stderr.includes(`'${value}'`), `${flag} ${value}: ${r.stderr}`);
    }
    const conflict = await cli('run', '--rm', '--restart', 'always', image, 'true');
    assert.equal(conflict.code, 2, conflict.stderr);
    assert.match(conflict.stderr, /--restart and --rm/);
    const hostname = await cli('run', '--network', 'host', '--hostname', 'x', image, 'true');
    assert.equal(hostname.code, 2, hostname.stderr);
    assert.deepEqual(await made(), before);
  });
});
