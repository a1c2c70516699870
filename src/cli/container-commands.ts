import type { Command } from 'commander';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { containerTop, restartContainer } from './coracle-client.js';
import { CoracleError } from '../errors.js';
import { attachTo, finish, terminal } from './container-attach.js';
import { printLogs } from './container-logs.js';
import { containerStatus, humanDuration, quotedCommand, shortId, table } from './format.js';
import { checkName, generateName } from './names.js';
import { collect, parseEnv, parsePort, parseVolume } from './run-options.js';
import { runSession } from './terminal-session.js';
import { findContainer as find, withClient, type SocketOf } from './with-client.js';

/**
 * docker's container commands: `coracle run` makes a pod sandbox with one container,
 * labelled as the CLI's; the others find containers by id, name or id prefix.
 */
export function registerContainerCommands(program: Command, socketOf: SocketOf): void {
  // In this order in `coracle --help`.
  registerRun(program, socketOf);
  registerAttach(program, socketOf);
  registerPs(program, socketOf);
  registerStart(program, socketOf);
  registerStop(program, socketOf);
  registerRm(program, socketOf);
  registerLogs(program, socketOf);
  registerExec(program, socketOf);
  registerTop(program, socketOf);
  registerInspect(program, socketOf);
}

function registerRun(program: Command, socketOf: SocketOf): void {
  program
    .command('run')
    .description('run a command in a new container (a pod sandbox with one container)')
    .argument('<image>')
    .argument('[command...]')
    .option('-d, --detach', 'run in the background and print the container id')
    .option('--name <name>', 'a name for the container')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect)
    .option('-v, --volume <host:container[:ro]>', 'bind-mount a host path (repeatable)', collect)
    .option('-p, --publish <[ip:]host:container[/proto]>', 'publish a port on the host (repeatable)', collect)
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a terminal')
    .passThroughOptions()
    .action(async (image: string, command: string[], o: { detach?: boolean; name?: string; env?: string[]; volume?: string[]; publish?: string[]; interactive?: boolean; tty?: boolean }, cmd: Command) => {
      const env = parseEnv(o.env ?? []);
      const mounts = (o.volume ?? []).map(parseVolume);
      const ports = (o.publish ?? []).map(parsePort);
      const socket = await socketOf(cmd);
      await withClient(socket, async (client) => {
        const existing = await client.containers();
        if (o.name !== undefined) {
          checkName(o.name);
          const holder = existing.find((c) => c.name === o.name);
          if (holder) throw new CoracleError('ALREADY_EXISTS', `the container name "${o.name}" is already in use by container ${shortId(holder.id)}: remove it or pick another name`);
        }
        const name = o.name ?? generateName(new Set(existing.map((c) => c.name)));
        await client.ensureImage(image);
        // The pod's log dir under the daemon's root: the daemon makes and writes it, `rm` removes it.
        const root = (JSON.parse((await client.status()).info.config ?? '{}') as { root?: string }).root ?? '/var/lib/coracle';
        const logDirectory = join(root, 'cli-logs', name);
        const stdin = o.interactive === true;
        const tty = o.tty === true;
        // As docker: the container's terminal starts at this one's size, before any attach.
        const size = tty && process.stdout.isTTY && process.stdout.rows > 0 && process.stdout.columns > 0 ? { consoleSize: { rows: process.stdout.rows, cols: process.stdout.columns } } : {};
        const id = await client.run({ name, image, command, env, mounts, ports, logDirectory, stdin, tty, ...size });
        if (o.detach) {
          process.stdout.write(`${id}\n`);
          return;
        }
        if (stdin || tty) {
          await attachTo(client, id, { stdin, tty });
          return;
        }
        const c = await find(client, id);
        // Over TCP the log file is out of reach: the id, as with -d.
        if (typeof socket !== 'string') {
          process.stdout.write(`${id}\n`);
          return;
        }
        await printLogs(c, { follow: true }, client);
        process.exitCode = (await client.container(id, c.podId))?.exitCode ?? 0;
      });
    });
}

function registerAttach(program: Command, socketOf: SocketOf): void {
  program
    .command('attach')
    .description("join a running container's stdio; Ctrl+P Ctrl+Q detaches and leaves it running")
    .argument('<container>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await withClient(await socketOf(cmd), async (client) => {
        const c = await find(client, name);
        await attachTo(client, c.id, await client.stdio(c.id));
      });
    });
}

function registerPs(program: Command, socketOf: SocketOf): void {
  program
    .command('ps')
    .description('list containers (running ones; -a all)')
    .option('-a, --all', 'show all containers')
    .option('-l, --latest', 'show the latest created container')
    .option('-q, --quiet', 'only ids')
    .action(async (o: { all?: boolean; latest?: boolean; quiet?: boolean }, cmd: Command) => {
      await withClient(await socketOf(cmd), async (client) => {
        let list = await client.containers();
        if (o.latest) list = list.slice(0, 1);
        else if (!o.all) list = list.filter((c) => c.state === 'running');
        if (o.quiet) {
          process.stdout.write(list.map((c) => `${shortId(c.id)}\n`).join(''));
          return;
        }
        const now = Date.now();
        const rows = list.map((c) => [shortId(c.id), c.image, quotedCommand(c.command), `${humanDuration(now - c.createdAt)} ago`, containerStatus(c, now), c.ports.join(', '), c.name]);
        process.stdout.write(table(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'], rows));
      });
    });
}

function registerStart(program: Command, socketOf: SocketOf): void {
  program
    .command('start')
    .description('run stopped containers again, their filesystems as they left them')
    .argument('<container...>')
    .option('-a, --attach', "attach to the container's output (one container)")
    .action(async (names: string[], o: { attach?: boolean }, cmd: Command) => {
      const socket = await socketOf(cmd);
      await withClient(socket, async (client) => {
        for (const n of names) {
          const c = await find(client, n);
          await restartContainer(socket, c.id);
          if (o.attach) await attachTo(client, c.id, await client.stdio(c.id));
          else process.stdout.write(`${n}\n`);
        }
      });
    });
}

function registerStop(program: Command, socketOf: SocketOf): void {
  program
    .command('stop')
    .description('stop containers: the stop signal, then SIGKILL after the timeout')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before SIGKILL', '10')
    .action(async (names: string[], o: { time: string }, cmd: Command) => {
      await withClient(await socketOf(cmd), async (client) => {
        for (const n of names) {
          const c = await find(client, n);
          await client.stop(c.id, Number(o.time));
          process.stdout.write(`${n}\n`);
        }
      });
    });
}

function registerRm(program: Command, socketOf: SocketOf): void {
  program
    .command('rm')
    .description('remove containers (and the pods the CLI made for them)')
    .argument('<container...>')
    .option('-f, --force', 'remove a running container, or one kubelet made')
    .action(async (names: string[], o: { force?: boolean }, cmd: Command) => {
      const socket = await socketOf(cmd);
      await withClient(socket, async (client) => {
        for (const n of names) {
          const c = await find(client, n);
          if (!c.cli && !o.force) throw new CoracleError('FAILED_PRECONDITION', `container ${shortId(c.id)} was not made by coracle run (kubelet's?): use -f to remove it anyway`);
          if (c.state === 'running' && !o.force) throw new CoracleError('FAILED_PRECONDITION', `container ${n} is running: stop it first or use -f`);
          if (c.state === 'running') await client.stop(c.id, 0);
          await client.remove(c);
          // The log dir is on the daemon's host: only a local CLI can take it away.
          if (c.cli && c.logPath && typeof socket === 'string') await rm(dirname(c.logPath), { recursive: true, force: true });
          process.stdout.write(`${n}\n`);
        }
      });
    });
}

function registerLogs(program: Command, socketOf: SocketOf): void {
  program
    .command('logs')
    .description("print a container's output (from its CRI log)")
    .argument('<container>')
    .option('-f, --follow', 'follow the output until the container ends')
    .option('--tail <n>', 'only the last n lines', 'all')
    .action(async (name: string, o: { follow?: boolean; tail?: string }, cmd: Command) => {
      const socket = await socketOf(cmd);
      if (typeof socket !== 'string') throw new CoracleError('UNIMPLEMENTED', 'logs over TCP is not implemented yet: the log is a file on the daemon\'s host');
      await withClient(socket, async (client) => printLogs(await find(client, name), o, client));
    });
}

function registerExec(program: Command, socketOf: SocketOf): void {
  program
    .command('exec')
    .description('run a command in a running container')
    .argument('<container>')
    .argument('<command...>')
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a terminal')
    .passThroughOptions()
    .action(async (name: string, command: string[], o: { interactive?: boolean; tty?: boolean }, cmd: Command) => {
      await withClient(await socketOf(cmd), async (client) => {
        const c = await find(client, name);
        if (o.interactive || o.tty) {
          const url = await client.streamUrl('exec', c.id, { cmd: command, stdin: o.interactive === true, tty: o.tty === true });
          finish(await runSession(url, { stdin: o.interactive === true, tty: o.tty === true, detachKeys: false, ...terminal() }));
          return;
        }
        const r = await client.execSync(c.id, command);
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
        process.exitCode = r.exitCode;
      });
    });
}

function registerTop(program: Command, socketOf: SocketOf): void {
  program
    .command('top')
    .description("a container's processes")
    .argument('<container>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const socket = await socketOf(cmd);
      const c = await withClient(socket, (client) => find(client, name));
      const procs = await containerTop(socket, c.id);
      process.stdout.write(table(['UID', 'PID', 'PPID', 'TIME', 'CMD'], procs.map((p) => [p.user, String(p.pid), String(p.ppid), p.time, p.command])));
    });
}

function registerInspect(program: Command, socketOf: SocketOf): void {
  program
    .command('inspect')
    .description('a container, as JSON')
    .argument('<container...>')
    .action(async (names: string[], _o: unknown, cmd: Command) => {
      await withClient(await socketOf(cmd), async (client) => {
        const out = [];
        for (const n of names) out.push(await client.inspect(await find(client, n)));
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      });
    });
}
