import type { Command } from 'commander';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CoracleError } from '../errors.js';
import type { CliClient } from './cli-client.js';
import { attachTo } from './container-attach.js';
import { printLogs } from './container-logs.js';
import type { DaemonTarget } from './daemon-target.js';
import { ExitStatusError, runFailure, usageError } from './exit-status.js';
import { watchExit, type ExitWatch } from './container-event-stream.js';
import { checked, repeatableArg } from './flag-parsers.js';
import { shortId } from './format.js';
import { checkName, generateName } from './names.js';
import { pullAuthFor, pullDenied } from './credentials-store.js';
import { pullWithProgress } from './coracle-client.js';
import { PullView } from './pull-view.js';
import { AUTO_REMOVE_ANNOTATION, formatRestartPolicy, parseRestartPolicy, RESTART_POLICY_ANNOTATION } from '../container/restart-policy.js';
import { CPU_PERIOD_US, collect, parseCpus, parseEnv, parseLabel, parseMemory, parseNetwork, parsePort, parseUser, parseVolume, processArgs, type RunFlags } from './run-options.js';
import { proxySignals } from './run-signal-proxy.js';
import { startWindow, type StartWindow } from './run-start-window.js';
import { findContainer as find, withClient, type SocketOf } from './with-client.js';

/**
 * docker run: a pod sandbox with one container, labelled as the CLI's. Trailing arguments
 * replace the image's Cmd (CRI `args`), --entrypoint its Entrypoint (CRI `command`). It exits
 * with the container's status, or 125/126/127 when the container could not be run
 * (exit-status.ts); a failed run leaves no pod or container behind (CliClient.make and startMade),
 * nor does a Ctrl+C before the start (run-start-window.ts). An
 * image that is not here is pulled with its progress shown; the flags are docker's
 * (docs/cli.md): --restart is recorded for the daemon to keep (container/restart-policy.ts),
 * --rm is done by this CLI in the foreground and by the daemon with -d or over tcp://.
 */
export function registerRun(program: Command, socketOf: SocketOf): void {
  program
    .command('run')
    .description('run a command in a new container (a pod sandbox with one container)')
    .argument('<image>')
    .argument('[command...]', "the command and its arguments: they replace the image's Cmd")
    .option('-d, --detach', 'run in the background and print the container id')
    .option('--name <name>', 'a name for the container', checked(checkName))
    .option('--entrypoint <command>', "replace the image's Entrypoint (and drop its Cmd); '' clears it")
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect)
    .option('-v, --volume <host:container[:ro]>', 'bind-mount a host path (repeatable)', repeatableArg(parseVolume))
    .option('-p, --publish <[ip:]host:container[/proto]>', 'publish a port on the host (repeatable)', repeatableArg(parsePort))
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a terminal')
    .option('--rm', 'remove the container (and its pod) when it exits')
    .option('-w, --workdir <dir>', 'the working directory inside the container', checked(parseWorkdir))
    .option('-u, --user <name|uid[:gid]>', 'the user (and group) the command runs as', checked(parseUser))
    .option('--hostname <name>', "the container's hostname", checked(parseHostname))
    .option('--network <host|none|bridge>', "the host's network namespace, loopback only, or Coracle's network (default)", checked(parseNetwork))
    .option('-m, --memory <bytes>', 'memory limit: a number with b, k, m or g (at least 6m)', checked(parseMemory))
    .option('--cpus <number>', 'CPUs: a quota over a 100 ms period (1.5: one and a half CPUs)', checked(parseCpus))
    .option('-l, --label <key=value>', 'set a label on the container (repeatable)', repeatableArg(parseLabel))
    .option('--restart <policy>', 'no, on-failure[:max-retries] or always: kept by the daemon', checked(parseRestartPolicy))
    .passThroughOptions()
    .action(async (image: string, trailing: string[], o: RunFlags, cmd: Command) => {
      if (o.rm && o.restart && o.restart.kind !== 'no') throw usageError('conflicting options: --restart and --rm');
      if (o.hostname !== undefined && o.network === 'host') throw usageError('conflicting options: --hostname and --network host (the host\'s own hostname is used)');
      let socket: DaemonTarget;
      let made: Made;
      let exit: ExitWatch | undefined;
      let window: StartWindow<Made> | undefined;
      try {
        socket = await socketOf(cmd);
        const target = socket;
        window = startWindow<Made>((m) => discardMade(target, m), (code) => process.exit(code));
        const daemonRemoves = o.rm === true && (o.detach === true || typeof socket !== 'string');
        // docker's wait registered before the start: the exit code of a container the daemon removes as it ends (--rm).
        if (!o.detach) exit = await watchExit(socket);
        const w = window;
        made = await withClient(socket, (client) => create(client, socket, image, trailing, o, daemonRemoves, w));
      } catch (err) {
        exit?.close();
        window?.close();
        throw runFailure(err);
      }
      const w = window;
      if (!exit) {
        try {
          await w.guard(withClient(socket, (client) => start(client, socket, made)));
        } finally {
          w.close();
        }
        process.stdout.write(`${made.id}\n`);
        return;
      }
      const watch = exit;
      await withClient(socket, (client) => follow(client, socket, made, o, watch, w));
    });
}

/** A container made, not started: its pod and its log dir (under the daemon's root). */
interface Made {
  id: string;
  podId: string;
  logDirectory: string;
}

/** Starts it; a failure (exit status 125/126/127) leaves nothing: its pod goes, its log dir too where this CLI can reach it. */
async function start(client: CliClient, socket: DaemonTarget, made: Made): Promise<void> {
  try {
    await client.startMade(made);
  } catch (err) {
    if (typeof socket === 'string') await rm(made.logDirectory, { recursive: true, force: true });
    throw runFailure(err);
  }
}

/** What a signal before the start leaves: nothing (run-start-window.ts); its log dir too where this CLI can reach it. */
async function discardMade(socket: DaemonTarget, made: Made): Promise<void> {
  await withClient(socket, (client) => client.discard(made.podId));
  if (typeof socket === 'string') await rm(made.logDirectory, { recursive: true, force: true });
}

/**
 * Makes the container, not started. With `daemonRemoves`, the daemon removes it when it exits
 * (run -d --rm, run --rm over tcp://). From the make, `window` takes Ctrl+C until the start.
 */
async function create(client: CliClient, socket: DaemonTarget, image: string, trailing: string[], o: RunFlags, daemonRemoves: boolean, window: StartWindow<Made>): Promise<Made> {
  const { command, args } = processArgs(o.entrypoint, trailing);
  const existing = await client.containers();
  if (o.name !== undefined) {
    const holder = existing.find((c) => c.name === o.name);
    if (holder) throw new CoracleError('ALREADY_EXISTS', `the container name "${o.name}" is already in use by container ${shortId(holder.id)}: remove it or pick another name`);
  }
  const name = o.name ?? generateName(new Set(existing.map((c) => c.name)));
  await ensureImage(client, socket, image);
  // The pod's log dir under the daemon's root: the daemon makes and writes it, `rm` removes it.
  const root = (JSON.parse((await client.status()).info.config ?? '{}') as { root?: string }).root ?? '/var/lib/coracle';
  const logDirectory = join(root, 'cli-logs', name);
  const stdin = o.interactive === true;
  const tty = o.tty === true;
  // As docker: the container's terminal starts at this one's size, before any attach.
  const size = tty && process.stdout.isTTY && process.stdout.rows > 0 && process.stdout.columns > 0 ? { consoleSize: { rows: process.stdout.rows, cols: process.stdout.columns } } : {};
  const annotations = {
    ...(o.restart ? { [RESTART_POLICY_ANNOTATION]: formatRestartPolicy(o.restart) } : {}),
    ...(daemonRemoves ? { [AUTO_REMOVE_ANNOTATION]: 'true' } : {}),
  };
  const spec = {
    name,
    image,
    command,
    args,
    env: parseEnv(o.env ?? []),
    mounts: o.volume ?? [],
    ports: o.publish ?? [],
    logDirectory,
    stdin,
    // As docker run -i: the foreground run's input, ended, is the container's (echo hi | run -i
    // cat), and its output comes to the end. Not with a terminal: docker closes stdin only
    // without one, and a detached terminal's shell keeps its input for the next attach.
    stdinOnce: stdin && !tty && o.detach !== true,
    tty,
    ...size,
    ...(o.workdir !== undefined ? { workdir: o.workdir } : {}),
    ...(o.user ? { user: o.user } : {}),
    ...(o.hostname !== undefined ? { hostname: o.hostname } : {}),
    ...(o.network ? { network: o.network } : {}),
    ...(o.memory ? { memory: o.memory } : {}),
    ...(o.cpus ? { cpu: { quota: Math.round(o.cpus * CPU_PERIOD_US), period: CPU_PERIOD_US } } : {}),
    labels: Object.fromEntries(o.label ?? []),
    annotations,
  };
  window.open();
  const made = await client.make(spec).catch(async (err: unknown) => {
    // The pod is gone (CliClient.make); its log dir too, where this CLI can reach it (not
    // when the name was another run's, made meanwhile: the dir is that one's).
    const taken = err instanceof CoracleError && err.code === 'ALREADY_EXISTS';
    if (typeof socket === 'string' && !taken) await rm(logDirectory, { recursive: true, force: true });
    throw err;
  });
  const result = { ...made, logDirectory };
  window.made(result);
  return result;
}

/**
 * The image, pulled when it is not here, with its progress on standard error as `pull`
 * shows it (standard output is the container's), and the saved credentials for its registry.
 */
async function ensureImage(client: CliClient, socket: DaemonTarget, image: string): Promise<void> {
  if (await client.image(image)) return;
  process.stderr.write(`Unable to find image '${image}' locally\n`);
  const view = new PullView(process.stderr, process.stderr.isTTY === true);
  await pullWithProgress(socket, image, (s) => view.step(s), await pullAuthFor(image)).catch((err: unknown) => {
    throw pullDenied(image, err);
  });
  process.stderr.write(`Status: pulled ${image}\n`);
}

function parseWorkdir(dir: string): string {
  if (!dir.startsWith('/') || dir.includes('\0')) throw new CoracleError('INVALID_ARGUMENT', `invalid working directory "${dir}": expected an absolute path`);
  return dir;
}

function parseHostname(name: string): string {
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(name)) throw new CoracleError('INVALID_ARGUMENT', `invalid hostname "${name}": expected letters, digits, dots and dashes, at most 63`);
  return name;
}

/**
 * In the foreground: starts it, then its terminal or its output until it ends, then its
 * status. The output is followed through the daemon (ContainerLogs, over tcp:// too), opened
 * before the start so that nothing is missed of a container removed as soon as it ends.
 * Without a tty the signals this process gets go to the container (run-signal-proxy.ts).
 * With --rm and a local daemon the container and its pod are removed once it has ended,
 * however the run ends (over tcp:// the daemon removes them).
 */
async function follow(client: CliClient, socket: DaemonTarget, made: Made, o: RunFlags, exit: ExitWatch, window: StartWindow<Made>): Promise<void> {
  const { id } = made;
  const stdin = o.interactive === true;
  const tty = o.tty === true;
  exit.of(id);
  let unproxy = (): void => undefined;
  let detached = false;
  let logs: Promise<void> | undefined;
  try {
    if (!stdin && !tty) {
      let opened = (): void => undefined;
      const open = new Promise<void>((resolve) => (opened = resolve));
      logs = printLogs(socket, id, { follow: true, waitStart: { onOpen: opened } });
      // A follow that fails fails the run before the start, and leaves nothing.
      await window.guard(
        Promise.race([open, logs]).catch(async (err: unknown) => {
          await client.discard(made.podId);
          if (typeof socket === 'string') await rm(made.logDirectory, { recursive: true, force: true });
          throw err;
        }),
      );
    }
    await window.guard(start(client, socket, made));
    window.close();
    if (!tty) unproxy = proxySignals(socket, id);
    if (stdin || tty) {
      detached = (await attachTo(client, id, { stdin, tty }, exit)) === 'detached';
      return;
    }
    await logs;
    process.exitCode = await exitCodeOf(client, made, exit);
  } finally {
    window.close();
    // A start that failed ends the follow (the container is gone); its error is the start's.
    logs?.catch(() => undefined);
    unproxy();
    exit.close();
    // Detached (Ctrl+P Ctrl+Q): it runs on, and stays.
    if (o.rm && !detached && typeof socket === 'string') await removeEnded(client, id);
  }
}

/**
 * Its exit code once its output has ended: its status, or, when the daemon has removed it
 * (--rm), its `die` event. Neither: docker's wait failing, exit status 125 with the reason.
 */
async function exitCodeOf(client: CliClient, made: Made, exit: ExitWatch): Promise<number> {
  const c = await client.container(made.id, made.podId);
  if (c?.state === 'exited') return c.exitCode;
  const code = await exit.exitCode(EXIT_WAIT_MS);
  if (code !== undefined) return code;
  throw new ExitStatusError(125, `container ${shortId(made.id)}: its exit code is unknown: it is gone and no die event of it came`);
}

/** How long a die event is waited for once the output has ended (it is sent as the container ends). */
const EXIT_WAIT_MS = 5000;

/** run --rm: the container once it has ended (at once, should it still run), its pod and its log dir. */
async function removeEnded(client: CliClient, id: string): Promise<void> {
  const c = await find(client, id).catch(() => undefined);
  if (!c) return;
  if (c.state === 'running') await client.stop(c.id, 10);
  await client.remove(c);
  if (c.logPath) await rm(dirname(c.logPath), { recursive: true, force: true });
}
