import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoracleError } from '../../src/errors.js';
import { execFifoPath, startThroughExecFifo } from '../../src/oci/exec-fifo.js';
import { processStartTime } from '../../src/util/process-start-time.js';
import { onCleanup } from '../helpers/cleanup.js';

const run = promisify(execFile);

/**
 * The real runc, a bundle around the host's static busybox: runc create leaves the init
 * waiting on its exec FIFO, and the start through it must leave what `runc start` leaves.
 */
describe('oci/exec-fifo: runc start through the exec FIFO', () => {
  let dir: string;
  let root: string;
  let bundle: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'coracle-exec-fifo-'));
    root = join(dir, 'runc');
    bundle = join(dir, 'bundle');
    await mkdir(join(bundle, 'rootfs', 'bin'), { recursive: true });
    await copyFile('/bin/busybox', join(bundle, 'rootfs', 'bin', 'busybox'));
    await symlink('busybox', join(bundle, 'rootfs', 'bin', 'sleep'));
    await run('runc', ['spec', '--bundle', bundle]);
    const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: { terminal: boolean; args: string[] }; root: { readonly: boolean } };
    spec.process.terminal = false;
    spec.process.args = ['/bin/sleep', '1000'];
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A created container (init waiting on the FIFO) and its init's pid; deleted after the test. */
  async function created(id: string): Promise<number> {
    onCleanup(`runc delete ${id}`, () => run('runc', [`--root=${root}`, 'delete', '--force', id]).catch(() => undefined));
    const pidFile = join(dir, `${id}.pid`);
    // The init inherits runc's stdio: /dev/null, not a pipe that would stay open as long as it runs.
    const runc = spawn('runc', [`--root=${root}`, 'create', '--bundle', bundle, '--pid-file', pidFile, id], { stdio: 'ignore', timeout: 30_000 });
    const code = await new Promise<number | null>((resolve, reject) => runc.once('error', reject).once('exit', resolve));
    assert.equal(code, 0, `runc create ${id}`);
    return Number(await readFile(pidFile, 'utf8'));
  }

  const status = async (id: string): Promise<string> => (JSON.parse((await run('runc', [`--root=${root}`, 'state', id])).stdout) as { status: string }).status;

  it('starts the process: runc then says running, and the FIFO is gone', async () => {
    const pid = await created('fifo-start');
    assert.equal(await status('fifo-start'), 'created');
    assert.equal(await startThroughExecFifo(execFifoPath(root, 'fifo-start'), 'fifo-start', pid, 10_000), true);
    assert.equal(await status('fifo-start'), 'running');
    await assert.rejects(stat(execFifoPath(root, 'fifo-start')), { code: 'ENOENT' });
    // The init has exec'd the user's process: /proc/PID/cmdline is sleep's now.
    assert.equal((await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')[0], '/bin/sleep');
  });

  it('an init that died before the start: FAILED_PRECONDITION, not a wait', async () => {
    const pid = await created('fifo-dead');
    process.kill(pid, 'SIGKILL');
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    await assert.rejects(startThroughExecFifo(execFifoPath(root, 'fifo-dead'), 'fifo-dead', pid, 10_000), (err: unknown) => {
      assert.ok(err instanceof CoracleError);
      assert.equal(err.code, 'FAILED_PRECONDITION');
      assert.match(err.message, /^container fifo-dead: start: its process \d+ is already dead$/);
      return true;
    });
    assert.equal(await processStartTime(pid), undefined);
    // Its watch ended with it: no timer left polling a dead pid (one kept mocha from exiting).
    assert.equal(timers(), before);
  });

  it('no FIFO (started already, or no such container): false, for the runtime to answer', async () => {
    const pid = await created('fifo-twice');
    assert.equal(await startThroughExecFifo(execFifoPath(root, 'fifo-twice'), 'fifo-twice', pid, 10_000), true);
    assert.equal(await startThroughExecFifo(execFifoPath(root, 'fifo-twice'), 'fifo-twice', pid, 10_000), false);
    assert.equal(await startThroughExecFifo(execFifoPath(root, 'no-such'), 'no-such', pid, 10_000), false);
  });

  it('a FIFO path that is a symlink is not followed', async () => {
    const pid = await created('fifo-link');
    const fifo = execFifoPath(root, 'fifo-link');
    const moved = join(dir, 'moved.fifo');
    await run('mv', [fifo, moved]);
    await symlink(moved, fifo);
    await assert.rejects(startThroughExecFifo(fifo, 'fifo-link', pid, 10_000), /ELOOP/);
    assert.equal(await status('fifo-link'), 'created');
  });
});
