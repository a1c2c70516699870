import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cliRegistrySuite, cliSuite, podsAndContainers, tlsCliDaemon } from '../helpers/cli.js';
import { onCleanup } from '../helpers/cleanup.js';
import { CORACLE_BIN } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';

describe('cli: run as docker runs: arguments, --entrypoint, exit statuses 125/126/127, ps COMMAND', function () {
  this.timeout(180_000);
  const t = cliSuite({
    // An Entrypoint and a Cmd, to tell which one the arguments replace.
    'cli/entry:v1': { config: { Env: ['PATH=/bin'], Entrypoint: ['echo', 'E'], Cmd: ['C'] } },
    // A file that is there but cannot be executed.
    'cli/noexec:v1': { files: [{ type: 'file', path: 'bin/not-exec', content: '#!/bin/sh\necho ran\n', mode: 0o644 }], config: { Env: ['PATH=/bin'], Cmd: ['sh'] } },
  });

  /** The containers and pods there are: a failed run must leave them as they were. */
  const made = async (): Promise<{ containers: string[]; pods: string[] }> => ({
    containers: (await t.cliCri.runtime.ListContainers({})).containers.map((c) => c.id).sort(),
    pods: (await t.cliCri.runtime.ListPodSandbox({})).items.map((p) => p.id).sort(),
  });

  it("the arguments replace the image's Cmd; --entrypoint replaces its Entrypoint, '' clears it; ps shows what runs", async () => {
    const { cli, images } = t;
    const entry = images['cli/entry:v1']!;
    const plain = await cli('run', '--name', 'plain', entry);
    assert.deepEqual([plain.code, plain.stdout], [0, 'E C\n'], plain.stderr);
    const args = await cli('run', '--name', 'args', entry, 'x', 'y');
    assert.deepEqual([args.code, args.stdout], [0, 'E x y\n'], args.stderr);
    // As `run curlimages/curl https://x`: an argument that is no command is no command's name.
    const url = await cli('run', '--name', 'url', entry, 'https://example.invalid/');
    assert.deepEqual([url.code, url.stdout], [0, 'E https://example.invalid/\n'], url.stderr);
    const replaced = await cli('run', '--name', 'replaced', '--entrypoint', 'sh', entry, '-c', 'echo "in sh: $0"');
    assert.deepEqual([replaced.code, replaced.stdout], [0, 'in sh: sh\n'], replaced.stderr);
    const dropped = await cli('run', '--name', 'dropped', '--entrypoint', 'echo', entry);
    assert.deepEqual([dropped.code, dropped.stdout], [0, '\n'], "the image's Cmd goes with its Entrypoint");
    const cleared = await cli('run', '--name', 'cleared', '--entrypoint', '', entry, 'echo', 'no entrypoint');
    assert.deepEqual([cleared.code, cleared.stdout], [0, 'no entrypoint\n'], cleared.stderr);

    const before = await made();
    const nothing = await cli('run', '--entrypoint', '', entry);
    assert.equal(nothing.code, 125, nothing.stderr);
    assert.match(nothing.stderr, /^coracle: no command specified/);
    assert.deepEqual(await made(), before);

    const ps = (await cli('ps', '-a')).stdout;
    // Columns are three spaces or more apart; COMMAND is the third, NAMES the last.
    const rows = ps.trimEnd().split('\n').map((line) => line.split(/ {3,}/));
    const command = (name: string): string => rows.find((r) => r.at(-1) === name)?.[2] ?? `(no row for ${name})`;
    assert.deepEqual(
      ['plain', 'args', 'replaced', 'dropped', 'cleared'].map(command),
      ['"echo E C"', '"echo E x y"', '"sh -c echo \\"in sh: …"', '"echo"', '"echo no entrypoint"'],
      ps,
    );
  });

  it('exits 127 for a command not found, 126 for one that cannot be invoked, 125 when the daemon fails the run; each leaves nothing', async () => {
    const { cli, image, images, registry } = t;
    await cli('pull', image);
    await cli('pull', images['cli/noexec:v1']!);
    const before = await made();
    const cases: { args: string[]; status: number; says: RegExp }[] = [
      { args: [image, 'no-such-command'], status: 127, says: /no-such-command.*(executable file not found|no such file)/ },
      { args: [image, '/bin/no-such-file'], status: 127, says: /no-such-file.*no such file or directory/ },
      { args: [images['cli/noexec:v1']!, '/bin/not-exec'], status: 126, says: /not-exec.*permission denied/ },
      { args: [images['cli/noexec:v1']!, '/etc'], status: 126, says: /\/etc.*(permission denied|is a directory)/ },
      { args: [`${registry.host}/cli/no-such-image:v1`], status: 125, says: /no-such-image/ },
    ];
    for (const c of cases) {
      const r = await cli('run', ...c.args);
      assert.equal(r.code, c.status, `${c.args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, c.says);
      assert.deepEqual(await made(), before, `${c.args.join(' ')} left nothing behind`);
    }
    // A name in use: the daemon is not even asked to make another.
    assert.equal((await cli('run', '-d', '--name', 'taken', image, 'sleep', '60')).code, 0);
    const held = await made();
    const again = await cli('run', '--name', 'taken', image, 'true');
    assert.equal(again.code, 125, again.stderr);
    assert.match(again.stderr, /the container name "taken" is already in use/);
    assert.deepEqual(await made(), held);
    // The container's own status, whatever it is, is still what run exits with.
    assert.equal((await cli('run', image, 'sh', '-c', 'exit 126')).code, 126);
    assert.equal((await cli('rm', '-f', 'taken')).code, 0);
  });
});

describe('cli: run in the foreground over tcp://, from a daemon with mutual TLS, as docker: its output, its exit code, --rm', function () {
  this.timeout(180_000);
  const fx = cliRegistrySuite();

  it('prints stdout and stderr on theirs and exits with the code; --rm keeps the code and leaves nothing, over tcp:// and the unix socket; SIGTERM is forwarded; a failed run leaves nothing', async () => {
    const { d, remoteArgs, local, overTls } = await tlsCliDaemon(fx.registry, 90_000);
    const script = ['sh', '-c', 'echo out; echo err >&2; exit 3'];
    assert.equal((await local('pull', fx.image)).code, 0);

    const kept = await overTls('run', '--name', 'kept', fx.image, ...script);
    assert.deepEqual([kept.code, kept.stdout, kept.stderr], [3, 'out\n', 'err\n']);
    assert.match((await local('ps', '-a', '--filter', 'name=kept', '--format', '{{.Status}}')).stdout, /^Exited \(3\)/);
    assert.equal((await local('rm', 'kept')).code, 0);

    const before = await podsAndContainers(d);
    const removed = await overTls('run', '--rm', fx.image, ...script);
    assert.deepEqual([removed.code, removed.stdout, removed.stderr], [3, 'out\n', 'err\n']);
    // The daemon removes it as it exits: by now, or a moment later.
    await until('run --rm over tcp:// leaves no container and no pod', async () => JSON.stringify(await podsAndContainers(d)) === JSON.stringify(before));
    assert.equal((await local('ps', '-a', '-q')).stdout, '');

    const localRm = await local('run', '--rm', fx.image, ...script);
    assert.deepEqual([localRm.code, localRm.stdout, localRm.stderr], [3, 'out\n', 'err\n']);
    assert.deepEqual(await podsAndContainers(d), before, 'run --rm on the unix socket removes it before it returns');

    // The signal proxy over tcp:// (SignalContainer), with --rm: the trap's code, and nothing left.
    const trap = "trap 'echo got TERM; exit 7' TERM; echo ready; while true; do sleep 0.1; done";
    const child = spawn(process.execPath, [CORACLE_BIN, ...remoteArgs, 'run', '--rm', fx.image, 'sh', '-c', trap], { stdio: ['ignore', 'pipe', 'pipe'] });
    onCleanup(`kill the CLI ${child.pid}`, () => child.exitCode === null && child.kill('SIGKILL'));
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.resume();
    const ended = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await until(() => `the container to say ready (${stdout})`, () => stdout === 'ready\n', 60_000);
    child.kill('SIGTERM');
    assert.deepEqual([await ended, stdout], [7, 'ready\ngot TERM\n']);
    await until('the trapping run --rm leaves nothing', async () => JSON.stringify(await podsAndContainers(d)) === JSON.stringify(before));

    // A command not found fails the start: 127, and nothing is left, with --rm or without.
    for (const rm of [[], ['--rm']]) {
      const missing = await overTls('run', ...rm, fx.image, 'no-such-command');
      assert.equal(missing.code, 127, missing.stderr);
      assert.match(missing.stderr, /no-such-command/);
      assert.deepEqual(await podsAndContainers(d), before, `run ${rm.join(' ')} that failed left nothing`);
    }
  });
});

