import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { constants } from 'node:os';
import { signalContainer } from '../../src/cli/coracle-client.js';
import { CORACLE_BIN } from '../helpers/daemon.js';
import { cliSuite, podsAndContainers } from '../helpers/cli.js';
import { onCleanup } from '../helpers/cleanup.js';
import { until } from '../helpers/until.js';

describe("cli: run's signal proxy and --rm: Ctrl+C and SIGTERM go to the container; --rm leaves nothing", function () {
  this.timeout(180_000);
  const t = cliSuite();

  const made = (): ReturnType<typeof podsAndContainers> => podsAndContainers(t.d);

  /** The CLI's log dirs under the daemon's root. */
  const logDirs = (): Promise<string[]> => readdir(join(t.d.root, 'cli-logs')).catch(() => []);

  /** A foreground run of a container that traps `trapped`, ready once it says so; `send` signals the CLI. */
  function trapping(args: string[], trapped: string, times = 1): { send: (s: NodeJS.Signals) => void; saw: (text: string) => Promise<void>; ended: Promise<{ code: number | null; stdout: string; stderr: string }> } {
    // The `times`th signal ends it with 7; each one before is only reported.
    const script = `n=0; trap 'n=$((n+1)); echo got ${trapped} $n; [ $n -ge ${times} ] && exit 7' ${trapped}; echo ready; while true; do sleep 0.1; done`;
    const child = spawn(process.execPath, [CORACLE_BIN, '-H', `unix://${t.d.socket}`, 'run', ...args, t.image, 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    onCleanup(`kill the CLI ${child.pid}`, () => child.exitCode === null && child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const ended = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
    const saw = (text: string): Promise<void> => until(() => `the container to say ${JSON.stringify(text)} (${stdout} ${stderr})`, () => stdout.includes(text), 60_000);
    return { send: (s) => child.kill(s), saw, ended };
  }

  it('Ctrl+C (SIGINT) reaches a container that traps INT; each one is forwarded; with --rm nothing is left', async () => {
    assert.equal((await t.cli('pull', t.image)).code, 0);
    const before = await made();
    const run = trapping(['--rm'], 'INT', 2);
    await run.saw('ready\n');
    run.send('SIGINT');
    await run.saw('got INT 1\n');
    run.send('SIGINT');
    const end = await run.ended;
    assert.deepEqual([end.code, end.stdout], [7, 'ready\ngot INT 1\ngot INT 2\n'], end.stderr);
    assert.deepEqual(await made(), before, '--rm removed the container and its pod');
    assert.deepEqual(await logDirs(), [], 'and its log dir');
  });

  it('SIGTERM to the CLI is forwarded too; without --rm the container stays, exited with its status', async () => {
    const run = trapping(['--name', 'termed'], 'TERM');
    await run.saw('ready\n');
    run.send('SIGTERM');
    const end = await run.ended;
    assert.deepEqual([end.code, end.stdout], [7, 'ready\ngot TERM 1\n'], end.stderr);
    const ps = await t.cli('ps', '-a');
    assert.match(ps.stdout, /Exited \(7\).*termed/);
    assert.equal((await t.cli('rm', 'termed')).code, 0);
  });

  it('--rm: a foreground run, a failed start and a detached run each leave nothing', async () => {
    const { cli, image } = t;
    assert.equal((await cli('pull', image)).code, 0);
    const before = await made();
    const done = await cli('run', '--rm', image, 'sh', '-c', 'echo hi; exit 3');
    assert.deepEqual([done.code, done.stdout], [3, 'hi\n'], done.stderr);
    assert.deepEqual(await made(), before);
    const failed = await cli('run', '--rm', image, 'no-such-command');
    assert.equal(failed.code, 127, failed.stderr);
    assert.deepEqual(await made(), before);
    // -d --rm: the daemon removes it (and its pod) as it exits.
    const detached = await cli('run', '-d', '--rm', image, 'sh', '-c', 'sleep 0.5');
    assert.equal(detached.code, 0, detached.stderr);
    assert.notDeepEqual(await made(), before, 'it runs for now');
    await until('the detached --rm container to be removed', async () => JSON.stringify(await made()) === JSON.stringify(before), 60_000, 100);
    assert.deepEqual((await cli('ps', '-a', '-q')).stdout, '');
    assert.deepEqual(await logDirs(), [], 'the log dirs went with them');
  });

  it("SignalContainer, the proxy's call: by name or number; unknown container, unknown signal and a container not running are refused", async () => {
    const { cli, image, d } = t;
    const r = await cli('run', '-d', '--name', 'sig', image, 'sh', '-c', "trap 'echo got USR1; exit 5' USR1; echo ready; while true; do sleep 0.1; done");
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    await until('it to be ready', async () => (await cli('logs', 'sig')).stdout === 'ready\n');
    await assert.rejects(signalContainer(d.socket, 'f'.repeat(64), 'INT'), { code: 'NOT_FOUND' });
    await assert.rejects(signalContainer(d.socket, id, 'SIGNOSUCH'), (err: Error & { code?: string }) => err.code === 'INVALID_ARGUMENT' && err.message.includes('SIGNOSUCH'));
    await signalContainer(d.socket, id, String(constants.signals.SIGUSR1));
    await until('it to end on USR1', async () => /Exited \(5\).*sig/.test((await cli('ps', '-a')).stdout));
    assert.equal((await cli('logs', 'sig')).stdout, 'ready\ngot USR1\n');
    await assert.rejects(signalContainer(d.socket, id, 'INT'), (err: Error & { code?: string }) => err.code === 'FAILED_PRECONDITION' && err.message.includes('not running'));
    assert.equal((await cli('rm', 'sig')).code, 0);
  });
});
