import assert from 'node:assert/strict';
import { cliSuite } from '../helpers/cli.js';

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
