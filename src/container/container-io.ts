import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CoracleError, failedPrecondition, invalidArgument, isErrno, messageOf } from '../errors.js';
import { applyExecOverrides, type ExecOverrides } from '../oci/exec-overrides.js';
import type { ExecStreamOptions, StdioSession, TerminalSize } from '../oci/stdio-session.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { attachRelay } from './attach-relay.js';
import type { ContainerContext } from './container-context.js';
import { refresh } from './container-exits.js';
import { isRunning } from './container-states.js';
import type { ContainerRecord } from './container-store.js';

/*
 * A running container's stdio and monitor: exec (whole or streamed), attach, and messages on
 * conmon's control FIFO (a terminal's size, a log reopen).
 */

/** ExecSync output kept per stream: kubelet's message limit is 16 MiB. */
const EXEC_OUTPUT_LIMIT = 16 << 20;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `cmd` in a running container as its main process runs (user, env, cwd). */
export async function execSync(ctx: ContainerContext, id: string, cmd: string[], timeoutSeconds: number, overrides?: ExecOverrides): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
  const { c, processFile, pidFile, release } = await prepareExec(ctx, id, cmd, false, undefined, overrides);
  try {
    // docker exec -d: started, not waited for; its output goes nowhere.
    if (overrides?.detach) {
      await ctx.runtimeFor(c.runtimeHandler, c.id).execDetached(c.id, processFile, pidFile);
      return { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exitCode: 0 };
    }
    return await ctx.runtimeFor(c.runtimeHandler, c.id).exec(c.id, processFile, pidFile, timeoutSeconds * 1000, EXEC_OUTPUT_LIMIT);
  } finally {
    await release();
  }
}

/** Runs `cmd` in a running container with its stdio live: the streaming server's exec. */
export async function execStream(ctx: ContainerContext, id: string, cmd: string[], o: ExecStreamOptions): Promise<StdioSession> {
  const { c, processFile, pidFile, release } = await prepareExec(ctx, id, cmd, o.tty, o.size, o.overrides);
  try {
    const session = ctx.runtimeFor(c.runtimeHandler, c.id).execStream(c.id, processFile, pidFile, o);
    void session.done.catch(() => undefined).finally(() => release());
    return session;
  } catch (err) {
    await release();
    throw err;
  }
}

/** The process spec of an exec: the container's own, with another command (and the overrides given). */
async function prepareExec(ctx: ContainerContext, id: string, cmd: string[], terminal: boolean, size?: TerminalSize, overrides?: ExecOverrides): Promise<{ c: ContainerRecord; processFile: string; pidFile: string; release: () => Promise<void> }> {
  const c = await refresh(ctx, ctx.mustGet(id));
  if (!isRunning(c)) throw failedPrecondition(`container ${c.id}: exec: not running`);
  if (cmd.length === 0) throw invalidArgument(`container ${c.id}: exec: no command`);
  const p = ctx.paths(c.id);
  const spec = JSON.parse(await readFile(join(p.bundle, 'config.json'), 'utf8')) as { process: Record<string, unknown> };
  const tag = randomBytes(6).toString('hex');
  const processFile = join(p.state, `exec-${tag}.json`);
  const pidFile = join(p.state, `exec-${tag}.pid`);
  // runc sizes the console it makes before the process starts (consoleSize), not after.
  const consoleSize = terminal && size && size.width > 0 && size.height > 0 ? { consoleSize: { width: size.width, height: size.height } } : {};
  // docker exec's -e, -u, -w, when the CLI gave them (Coracle's exec metadata).
  const proc = await applyExecOverrides(spec.process, overrides, p.rootfs);
  await writeFileAtomic(processFile, JSON.stringify({ ...proc, args: cmd, terminal, ...consoleSize }));
  return {
    c,
    processFile,
    pidFile,
    release: async () => {
      await rm(processFile, { force: true });
      await rm(pidFile, { force: true });
    },
  };
}

/**
 * Joins the container's own stdio through its monitor. A terminal is resized through
 * conmon's control FIFO; detaching leaves the container running.
 */
export async function attach(ctx: ContainerContext, id: string): Promise<StdioSession> {
  const c = await refresh(ctx, ctx.mustGet(id));
  if (!isRunning(c)) throw failedPrecondition(`container ${c.id}: attach: not running`);
  const resize = ({ width, height }: TerminalSize): void => {
    if (width <= 0 || height <= 0) return;
    void control(ctx, c.id, `1 ${height} ${width}\n`).catch((err: unknown) => ctx.deps.log.info('attach: resize failed', { container: c.id, error: messageOf(err) }));
  };
  const session = await attachRelay(join(ctx.deps.stateDir, 'attach', c.id, 'attach'), resize, `container ${c.id}: attach`);
  // As CRI-O does: a client closing its stdin detaches, unless that is meant to close the
  // container's stdin (stdin_once), whose end then comes with the container's output.
  return { ...session, detachOnStdinEnd: !c.stdinOnce };
}

/** One message on conmon's control FIFO in the bundle: "<type> <height> <width>". */
async function control(ctx: ContainerContext, id: string, message: string): Promise<void> {
  const fifo = join(ctx.paths(id).bundle, 'ctl');
  // Non-blocking: a FIFO with no reader (conmon gone) must fail, not hang the call.
  const fh = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK).catch((err: unknown) => {
    throw new CoracleError('FAILED_PRECONDITION', `container ${id}: monitor unreachable: ${messageOf(err)}`);
  });
  try {
    await fh.write(message);
  } catch (err) {
    // The reader went between the open and the write: conmon is ending with its container.
    if (isErrno(err, 'EPIPE')) throw new CoracleError('FAILED_PRECONDITION', `container ${id}: monitor unreachable: it has exited`);
    throw err;
  } finally {
    await fh.close();
  }
}

/**
 * Makes conmon open the log path again (kubelet renamed the file to rotate it): a "reopen
 * log" message on conmon's control FIFO in the bundle, as CRI-O sends it.
 */
export async function reopenLog(ctx: ContainerContext, id: string): Promise<void> {
  const c = await refresh(ctx, ctx.mustGet(id));
  if (!isRunning(c)) throw failedPrecondition(`container ${c.id}: reopen log: not running`);
  await control(ctx, c.id, '2 0 0\n');
  // conmon reopens asynchronously; kubelet expects the file to be there when we answer.
  for (let i = 0; i < 100 && c.logPath; i++) {
    if (await stat(c.logPath).then(() => true, () => false)) return;
    await sleep(10);
  }
}

