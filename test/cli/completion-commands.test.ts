import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from '../helpers/cleanup.js';
import { cliSuite, coracle } from '../helpers/cli.js';
import { CORACLE_BIN } from '../helpers/daemon.js';

describe('cli: completion bash, made from the command tree', function () {
  this.timeout(120_000);
  const t = cliSuite();

  it('completes commands, flags, container names and image names in bash; another shell exits 2', async () => {
    const { d, cli, image } = t;
    const dir = await mkdtemp(join(tmpdir(), 'coracle-completion-'));
    onCleanup('remove the completion dir', () => rm(dir, { recursive: true, force: true }));
    const script = await cli('completion', 'bash');
    assert.equal(script.code, 0, script.stderr);
    await writeFile(join(dir, 'coracle.bash'), script.stdout);
    // `coracle` on PATH, as the script calls it for names.
    await writeFile(join(dir, 'coracle'), `#!/bin/sh\nexec '${process.execPath}' '${CORACLE_BIN}' "$@"\n`);
    await chmod(join(dir, 'coracle'), 0o755);

    /** COMPREPLY for the line `words`, the last word the one completed. */
    const complete = (...words: string[]): Promise<string[]> =>
      new Promise((resolve, reject) => {
        const line = `source ${dir}/coracle.bash; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _coracle; printf '%s\\n' "\${COMPREPLY[@]}"`;
        execFile('bash', ['--norc', '-c', line], { env: { PATH: `${dir}:/usr/bin:/bin`, HOME: dir }, timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout.split('\n').filter(Boolean).sort())));
      });

    assert.deepEqual(await complete('coracle', 'p'), ['port', 'ps', 'pull']);
    assert.deepEqual(await complete('coracle', 'ps', '--f'), ['--filter', '--format']);
    assert.deepEqual(await complete('coracle', 'logs', '--t'), ['--tail', '--timestamps']);
    assert.deepEqual(await complete('coracle', '--tls'), ['--tlscacert', '--tlscert', '--tlskey', '--tlsverify']);
    assert.deepEqual(await complete('coracle', 'images', ''), ['export', 'import'], 'subcommands');

    assert.equal((await cli('run', '-d', '--name', 'alpha', image, 'sleep', '300')).code, 0);
    assert.equal((await cli('run', '--name', 'alpine-done', image, 'true')).code, 0);
    const host = `unix://${d.socket}`;
    assert.deepEqual(await complete('coracle', '-H', host, 'logs', 'al'), ['alpha', 'alpine-done'], 'container names from ps -a, on the line\'s daemon');
    assert.deepEqual(await complete('coracle', '-H', host, 'rm', '-f', 'alpha', 'alp'), ['alpha', 'alpine-done'], 'rm takes several');
    assert.deepEqual(await complete('coracle', '-H', host, 'exec', 'alpha', ''), [], 'the command after the container is not completed');
    assert.ok(!(await complete('coracle', '-H', host, 'logs', '--tail', '')).includes('alpha'), "a flag's value is not a container (files are offered)");
    assert.deepEqual(await complete('coracle', '-H', host, 'rmi', ''), [image], 'image names');
    assert.deepEqual(await complete('coracle', '-H', host, 'run', '-d', ''), [image]);

    const other = await coracle(d.socket, ['completion', 'fish']);
    assert.equal(other.code, 2);
    assert.match(other.stderr, /'fish' is invalid for argument 'shell'\. Expected one of: bash/);
  });
});
