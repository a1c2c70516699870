import type { Command } from 'commander';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { containerTop, restartContainer } from './coracle-client.js';
import { CoracleError } from '../errors.js';
import { attachTo } from './container-attach.js';
import { watchExit } from './container-event-stream.js';
import { formatInspect, inspectRecord } from './container-inspect.js';
import { printLogs, type LogsOptions } from './container-logs.js';
import { timeArg } from './time-flag.js';
import { registerExec } from './container-exec.js';
import { registerPs } from './container-ps.js';
import { registerRun } from './container-run.js';
import { intArg, intOrWordArg } from './flag-parsers.js';
import { shortId, table } from './format.js';
import { operandCommand } from './operand-command.js';
import { eachContainer, findContainer as find, withClient, type SocketOf } from './with-client.js';

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

function registerAttach(program: Command, socketOf: SocketOf): void {
  const description = "join a running container's stdio; Ctrl+P Ctrl+Q detaches and leaves it running";
  operandCommand(program, socketOf, { name: 'attach', description, operand: '<container>' }, (name, _o, socket) =>
    withClient(socket, async (client) => {
      const c = await find(client, name);
      // One the daemon removes as it ends (run -d --rm): its exit code comes from its `die`
      // event, watched from before the attach, as run's own wait does.
      const exit = c.autoRemove ? await watchExit(socket) : undefined;
      exit?.of(c.id);
      try {
        await attachTo(client, c.id, await client.stdio(c.id), exit);
      } finally {
        exit?.close();
      }
    }),
  );
}

function registerStart(program: Command, socketOf: SocketOf): void {
  const description = 'run stopped containers again, their filesystems as they left them';
  const options = [{ flags: '-a, --attach', description: "attach to the container's output (one container)" }];
  operandCommand<string[], { attach?: boolean }>(program, socketOf, { name: 'start', description, operand: '<container...>', options }, (names, o, socket) =>
    eachContainer(socket, names, async (client, c) => {
      await restartContainer(socket, c.id);
      if (!o.attach) return;
      await attachTo(client, c.id, await client.stdio(c.id));
      return 'printed';
    }),
  );
}

function registerStop(program: Command, socketOf: SocketOf): void {
  const options = [{ flags: '-t, --time <seconds>', description: 'seconds to wait before SIGKILL', parse: intArg({ min: 0 }), default: 10 }];
  operandCommand<string[], { time: number }>(program, socketOf, { name: 'stop', description: 'stop containers: the stop signal, then SIGKILL after the timeout', operand: '<container...>', options }, (names, o, socket) =>
    eachContainer(socket, names, (client, c) => client.stop(c.id, o.time)),
  );
}

function registerRm(program: Command, socketOf: SocketOf): void {
  const options = [{ flags: '-f, --force', description: 'remove a running container, or one kubelet made' }];
  operandCommand<string[], { force?: boolean }>(program, socketOf, { name: 'rm', description: 'remove containers (and the pods the CLI made for them)', operand: '<container...>', options }, (names, o, socket) =>
    eachContainer(socket, names, async (client, c, n) => {
      if (!c.cli && !o.force) throw new CoracleError('FAILED_PRECONDITION', `container ${shortId(c.id)} was not made by coracle run (kubelet's?): use -f to remove it anyway`);
      if (c.state === 'running' && !o.force) throw new CoracleError('FAILED_PRECONDITION', `container ${n} is running: stop it first or use -f`);
      if (c.state === 'running') await client.stop(c.id, 0);
      await client.remove(c);
      // The log dir is on the daemon's host: only a local CLI can take it away.
      if (c.cli && c.logPath && typeof socket === 'string') await rm(dirname(c.logPath), { recursive: true, force: true });
    }),
  );
}

function registerLogs(program: Command, socketOf: SocketOf): void {
  program
    .command('logs')
    .description("print a container's output (from its CRI log, read by the daemon)")
    .argument('<container>')
    .option('-f, --follow', 'follow the output until the container ends')
    .option('-n, --tail <n>', 'only the last n lines ("all": every line)', intOrWordArg(['all'], { min: 0 }), 'all')
    .option('--since <time>', 'only the lines from this time: 10m (ago), 2026-12-02T07:30:00Z, or Unix seconds', timeArg())
    .option('--until <time>', 'only the lines up to this time (the same forms)', timeArg())
    .option('-t, --timestamps', "each line's time first (RFC 3339, UTC, nanoseconds)")
    .action(async (name: string, o: LogsOptions, cmd: Command) => {
      const socket = await socketOf(cmd);
      const c = await withClient(socket, (client) => find(client, name));
      await printLogs(socket, c.id, o);
    });
}

function registerTop(program: Command, socketOf: SocketOf): void {
  operandCommand(program, socketOf, { name: 'top', description: "a container's processes", operand: '<container>' }, async (name, _o, socket) => {
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
    .option('-f, --format <template>', 'a template over each container\'s JSON: "{{.State.Status}}", "{{json .Config}}"')
    .action(async (names: string[], o: { format?: string }, cmd: Command) => {
      await withClient(await socketOf(cmd), async (client) => {
        const out = [];
        for (const n of names) {
          const c = await find(client, n);
          out.push(inspectRecord(c, await client.inspect(c)));
        }
        process.stdout.write(formatInspect(out, o.format));
      });
    });
}
