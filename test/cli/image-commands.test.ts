import assert from 'node:assert/strict';
import pty from 'node-pty';
import { onCleanup } from '../helpers/cleanup.js';
import { cliSuite, coracle, coracleBytes } from '../helpers/cli.js';
import { CORACLE_BIN } from '../helpers/daemon.js';

describe('cli: save and load on standard output and input, as docker', function () {
  this.timeout(120_000);
  const t = cliSuite();

  /** The CLI on a terminal of its own: its output and exit status. */
  const onTerminal = async (args: string[]): Promise<{ code: number; output: string }> => {
    const p = pty.spawn(process.execPath, [CORACLE_BIN, '-H', `unix://${t.d.socket}`, ...args], { cols: 100, rows: 30, env: process.env as Record<string, string> });
    onCleanup('kill the terminal', () => p.kill());
    let output = '';
    p.onData((s) => (output += s));
    const code = await new Promise<number>((resolve) => p.onExit(({ exitCode }) => resolve(exitCode)));
    return { code, output };
  };

  it('save writes the tarball to standard output and load reads standard input; neither to or from a terminal', async () => {
    const { d, cli, image } = t;
    assert.equal((await cli('pull', image)).code, 0);
    const saved = await coracleBytes(d.socket, ['save', image]);
    assert.equal(saved.code, 0, saved.stderr);
    assert.equal(saved.stdout.subarray(257, 262).toString('latin1'), 'ustar', 'a tar archive');
    assert.equal((await cli('rmi', image)).code, 0);
    assert.equal((await d.clients.image.ListImages({})).images.length, 0);

    const loaded = await coracle(d.socket, ['load'], saved.stdout);
    assert.deepEqual([loaded.code, loaded.stdout], [0, `Loaded image: ${image}\n`], loaded.stderr);
    assert.equal((await d.clients.image.ListImages({})).images.length, 1);

    const toTerminal = await onTerminal(['save', image]);
    assert.equal(toTerminal.code, 1);
    assert.match(toTerminal.output, /coracle: cowardly refusing to save to a terminal: use the -o flag or redirect/);
    const fromTerminal = await onTerminal(['load']);
    assert.equal(fromTerminal.code, 1);
    assert.match(fromTerminal.output, /coracle: requested load from standard input, but it is a terminal: use the -i flag or redirect/);
  });
});
