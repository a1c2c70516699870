import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import pty from 'node-pty';
import { onCleanup } from '../helpers/cleanup.js';
import { cliSuite, coracle } from '../helpers/cli.js';
import { CORACLE_BIN } from '../helpers/daemon.js';
import { podConfig } from '../helpers/pods.js';

describe('cli: docker commands over the socket', function () {
  this.timeout(120_000);
  const suite = cliSuite();

  it('run in the foreground, run -d, ps with docker\'s columns, exec, top, logs, stop with 137, rm', async () => {
    const { d, cli, image } = suite;
    const first = await cli('run', '--name', 'bingo', image, 'sh', '-c', 'echo BINGO > /tmp/SUCCESS.txt; cat /tmp/SUCCESS.txt');
    assert.deepEqual([first.code, first.stdout], [0, 'BINGO\n'], first.stderr);
    const failing = await cli('run', image, 'sh', '-c', 'echo to-stderr >&2; exit 3');
    assert.deepEqual([failing.code, failing.stderr], [3, 'to-stderr\n']);

    const started = await cli('run', '-d', '--name', 'sleeper', '-e', 'GREETING=hello there', image, 'sh', '-c', 'trap "" TERM; echo "$GREETING"; sleep 300');
    assert.match(started.stdout, /^[0-9a-f]{64}\n$/, started.stderr);
    const id = started.stdout.trim();

    const ps = await cli('ps');
    const [header, ...rows] = ps.stdout.trimEnd().split('\n');
    assert.match(header!, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    assert.equal(rows.length, 1, ps.stdout);
    assert.match(rows[0]!, new RegExp(`^${id.slice(0, 12)}\\s+${image.replace(/[.]/g, '\\.')}\\s+"sh -c trap .*"\\s+\\d+ seconds? ago\\s+Up .*\\s+sleeper$|^${id.slice(0, 12)}.*Less than a second.*sleeper$`));
    assert.deepEqual((await cli('ps', '-q')).stdout, `${id.slice(0, 12)}\n`);
    assert.match((await cli('ps', '-l')).stdout.split('\n')[1]!, /sleeper$/);
    const all = (await cli('ps', '-a')).stdout;
    assert.match(all, /Exited \(0\) .* ago\s+bingo\n/);
    assert.match(all, /Exited \(3\) .* ago\s+[a-z]+_[a-z]+\d*\n/, 'a generated name');

    assert.equal((await cli('exec', 'sleeper', 'cat', '/etc/hostname')).stdout, 'sleeper\n');
    const own = d.subnet!.split('.').slice(0, 3).join('\\.');
    assert.match((await cli('exec', 'sleeper', 'busybox', 'ip', '-4', 'addr', 'show', 'eth0')).stdout, new RegExp(`inet ${own}\\.\\d+/24`), 'on Coracle\'s own network');
    const exec3 = await cli('exec', id.slice(0, 8), 'sh', '-c', 'exit 3');
    assert.equal(exec3.code, 3);
    const top = (await cli('top', 'sleeper')).stdout;
    assert.match(top, /^UID\s+PID\s+PPID\s+TIME\s+CMD\n/);
    assert.match(top, /\d+:\d+:\d+\s+sleep 300\n/);
    assert.equal((await cli('logs', 'sleeper')).stdout, 'hello there\n');
    assert.equal((await cli('logs', '--tail', '0', 'sleeper')).stdout, '');
    const inspect = JSON.parse((await cli('inspect', 'sleeper')).stdout) as { id: string; state: string }[];
    assert.deepEqual([inspect[0]!.id, inspect[0]!.state], [id, 'running']);

    assert.equal((await cli('exec', 'sleeper', 'sh', '-c', 'echo kept > /tmp/mark')).code, 0);

    // The shell ignores SIGTERM: the timeout's SIGKILL ends it, as docker's Exited (137).
    const t = Date.now();
    assert.equal((await cli('stop', '-t', '1', 'sleeper')).code, 0);
    assert.ok(Date.now() - t >= 1000);
    assert.match((await cli('ps', '-a')).stdout, /Exited \(137\) .* ago\s+sleeper\n/);

    // start: the same container runs again, its filesystem and its log kept.
    assert.equal((await cli('start', 'sleeper')).stdout, 'sleeper\n');
    assert.match((await cli('ps')).stdout, /Up .*\s+sleeper\n/);
    assert.equal((await cli('exec', 'sleeper', 'cat', '/tmp/mark')).stdout, 'kept\n');
    for (let i = 0; i < 50 && (await cli('logs', 'sleeper')).stdout !== 'hello there\nhello there\n'; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await cli('logs', 'sleeper')).stdout, 'hello there\nhello there\n');
    assert.match((await cli('start', 'sleeper')).stderr, /start: is running/);
    await cli('stop', '-t', '0', 'sleeper');

    assert.equal((await cli('rm', 'sleeper', 'bingo')).stdout, 'sleeper\nbingo\n');
    assert.equal((await suite.cliCri.runtime.ListPodSandbox({})).items.length, 1, 'the generated one is left');
    await assert.rejects(access(join(d.root, 'cli-logs', 'sleeper')), 'its log dir is gone');
  });

  it('the seed\'s story: BINGO, commit, history, save, rmi, load, and BINGO again', async () => {
    const { d, cli, image } = suite;
    const bingo = await cli('run', '--name', 'bingo', image, 'sh', '-c', 'echo BINGO > /tmp/SUCCESS.txt; rm /etc/group; mkdir -p /opt/new; echo inside > /opt/new/file');
    assert.equal(bingo.code, 0, bingo.stderr);
    assert.match((await cli('ps', '-a')).stdout, /Exited \(0\) .* ago\s+bingo\n/);
    const committed = await cli('commit', '-m', 'the winning card', '-a', 'Tester', 'bingo', 'bingo-img:v1');
    assert.match(committed.stdout, /^sha256:[0-9a-f]{64}\n$/, committed.stderr);
    const history = (await cli('history', 'bingo-img:v1')).stdout.split('\n');
    assert.match(history[1]!, new RegExp(`^${committed.stdout.slice(7, 19)}\\s+(Less than a second|\\d+ seconds?) ago\\s+coracle commit [0-9a-f]{12}: \\[.*\\s+[\\d.]+k?B\\s+the winning card$`));
    assert.match(history[2]!, /ADD busybox/);

    const tarball = join(d.dir, 'bingo.tar');
    assert.equal((await cli('save', '-o', tarball, 'bingo-img:v1')).code, 0);
    assert.equal((await cli('rm', 'bingo')).code, 0);
    assert.equal((await cli('rmi', 'bingo-img:v1')).code, 0);
    assert.doesNotMatch((await cli('images')).stdout, /bingo-img/);
    assert.equal((await cli('load', '-i', tarball)).stdout, 'Loaded image: docker.io/library/bingo-img:v1\n');

    // The layer carries the changes, deletions too: a whiteout for /etc/group.
    const again = await cli('run', '--name', 'again', 'bingo-img:v1', 'sh', '-c', 'cat /tmp/SUCCESS.txt /opt/new/file; test -e /etc/group && echo group-back || echo group-gone');
    assert.deepEqual([again.code, again.stdout], [0, 'BINGO\ninside\ngroup-gone\n'], again.stderr);
  });

  it('run -it, Ctrl+P Ctrl+Q, attach, exec -it: through a terminal', async () => {
    const { d, cli, image } = suite;
    // Drives the CLI on a pty, as a person at a terminal would.
    const term = (args: string[], cols = 80, rows = 24): { output: () => string; write(s: string): void; waitFor(re: RegExp): Promise<void>; exited: Promise<number> } => {
      const p = pty.spawn(process.execPath, [CORACLE_BIN, '-H', `unix://${d.socket}`, ...args], { cols, rows, env: process.env as Record<string, string> });
      onCleanup('kill the terminal', () => p.kill());
      let out = '';
      p.onData((s) => (out += s));
      const exited = new Promise<number>((resolve) => p.onExit(({ exitCode }) => resolve(exitCode)));
      return {
        output: () => out,
        write: (s) => p.write(s),
        async waitFor(re) {
          for (let i = 0; i < 300 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 20));
          assert.match(out, re);
        },
        exited,
      };
    };
    const run = term(['run', '-it', '--name', 'tty1', image, 'sh'], 100, 30);
    await new Promise((r) => setTimeout(r, 1500));
    run.write('echo hi-$((1+1)); busybox stty size\r');
    await run.waitFor(/hi-2\r+\n30 100\r+\n/);
    run.write('\x10\x11');
    assert.equal(await run.exited, 0, run.output());
    assert.match((await cli('ps')).stdout, /Up .*\s+tty1\n/, 'detached: still running');

    const again = term(['attach', 'tty1']);
    await new Promise((r) => setTimeout(r, 800));
    again.write('echo back-$((3+4)); exit 7\r');
    assert.equal(await again.exited, 7, again.output());
    assert.match(again.output(), /back-7/);
    assert.match((await cli('ps', '-a')).stdout, /Exited \(7\) .* ago\s+tty1\n/);

    // One the daemon removes as it ends (run -d --rm): attach still exits with its code.
    assert.equal((await cli('run', '-d', '-it', '--rm', '--name', 'tty2', image, 'sh')).code, 0);
    const removed = term(['attach', 'tty2']);
    await new Promise((r) => setTimeout(r, 800));
    removed.write('exit 9\r');
    assert.equal(await removed.exited, 9, removed.output());
    for (let i = 0; i < 100 && /tty2/.test((await cli('ps', '-a')).stdout); i++) await new Promise((r) => setTimeout(r, 50));
    assert.doesNotMatch((await cli('ps', '-a')).stdout, /tty2/, 'removed by the daemon');

    await cli('run', '-d', '--name', 'host', image, 'sleep', '300');
    const exec = term(['exec', '-it', 'host', 'sh', '-c', 'busybox stty size; exit 5'], 91, 17);
    assert.equal(await exec.exited, 5, exec.output());
    assert.match(exec.output(), /17 91/);
  });

  it("run -it: the container's terminal starts at the local one's size, before any attach (no race with the first resize)", async () => {
    const { d, cli, image } = suite;
    // The process asks for the size as it starts, before the CLI has attached and resized:
    // without a size given at create the terminal had 0 rows and stty failed.
    const p = pty.spawn(process.execPath, [CORACLE_BIN, '-H', `unix://${d.socket}`, 'run', '-it', '--name', 'sized', image, 'sh', '-c', 'busybox stty size; exec sleep 60'], {
      cols: 123,
      rows: 45,
      env: process.env as Record<string, string>,
    });
    onCleanup('kill the terminal', () => p.kill());
    const exited = new Promise<number>((resolve) => p.onExit(({ exitCode }) => resolve(exitCode)));
    // What it printed before any attach is in its log.
    let logged = '';
    for (let i = 0; i < 300 && !logged.includes('\n'); i++) {
      logged = (await cli('logs', 'sized')).stdout.replace(/\r/g, '');
      if (!logged.includes('\n')) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(logged, '45 123\n');
    p.write('\x10\x11');
    assert.equal(await exited, 0);
    assert.equal((await cli('rm', '-f', 'sized')).code, 0);
  });

  it('history and images; errors a person can act on', async () => {
    const { d, cli, image, registry } = suite;
    const pulled = await cli('pull', image);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.match(pulled.stdout, /^Pulling .*\n([0-9a-f]{12}): Waiting\n\1: Downloading\n\1: Extracting\n\1: Pull complete\nStatus: pulled .*\nsha256:[0-9a-f]{64}\n$/);
    assert.match((await cli('pull', image)).stdout, /: Already exists\n/);
    const history = (await cli('history', image)).stdout;
    assert.match(history, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT\n[0-9a-f]{12}\s+ADD busybox \/ # the test base\s+[\d.]+[kM]B/);
    assert.match((await cli('images')).stdout, new RegExp(`^REPOSITORY\\s+TAG\\s+IMAGE ID\\s+SIZE\\n${registry.host.replace(/[.]/g, '\\.')}/cli/busybox\\s+v1\\s+[0-9a-f]{12}\\s+[\\d.]+[kM]B\\n$`));

    await cli('run', '-d', '--name', 'taken', image, 'sleep', '60');
    const again = await cli('run', '-d', '--name', 'taken', image, 'true');
    assert.equal(again.code, 125, "docker run's status when the daemon refuses the run");
    assert.match(again.stderr, /^coracle: the container name "taken" is already in use by container [0-9a-f]{12}/);
    assert.match((await cli('stop', 'nothing')).stderr, /^coracle: no such container: nothing\n$/);
    assert.match((await cli('rm', 'taken')).stderr, /is running: stop it first or use -f/);
    assert.equal((await cli('rm', '-f', 'taken')).code, 0);

    // A kubelet-made container is in kubelet's namespace: the CLI neither lists nor removes it
    // (cli-namespace.test.ts tries more). (Host network: this node has no cluster network.)
    const kubePod = podConfig('kube', { log_directory: join(d.dir, 'logs'), linux: { security_context: { namespace_options: { network: 'NODE' } } } });
    const pod = (await d.clients.runtime.RunPodSandbox({ config: kubePod })).pod_sandbox_id;
    const { container_id: kube } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: { metadata: { name: 'kubelets', attempt: 0 }, image: { image }, command: ['true'], log_path: 'k.log' }, sandbox_config: podConfig('kube') });
    assert.doesNotMatch((await cli('ps', '-a')).stdout, /kubelets/);
    assert.match((await cli('rm', '-f', kube)).stderr, /no such container/);
    assert.deepEqual((await d.clients.runtime.ListContainers({})).containers.map((c) => c.id), [kube], 'kubelet\'s container is not the CLI\'s to remove');

    const down = await coracle(join(d.dir, 'nothing.sock'), ['ps']);
    assert.equal(down.stderr, `coracle: cannot connect to the Coracle daemon at unix://${join(d.dir, 'nothing.sock')}: is it running?\n`);
  });
});
