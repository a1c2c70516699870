import type { Command } from 'commander';
import { join } from 'node:path';
import { CoracleError } from '../errors.js';
import type { CliClient } from './cli-client.js';
import { attachTo } from './container-attach.js';
import { printLogs } from './container-logs.js';
import type { DaemonTarget } from './daemon-target.js';
import { runFailure } from './exit-status.js';
import { checked, repeatableArg } from './flag-parsers.js';
import { shortId } from './format.js';
import { checkName, generateName } from './names.js';
import { pullAuthFor, pullDenied } from './credentials-store.js';
import { collect, parseEnv, parsePort, parseVolume, processArgs, type RunFlags } from './run-options.js';
import { findContainer as find, withClient, type SocketOf } from './with-client.js';

/**
 * docker run: a pod sandbox with one container, labelled as the CLI's. Trailing arguments
 * replace the image's Cmd (CRI `args`), --entrypoint its Entrypoint (CRI `command`). It exits
 * with the container's status, or 125/126/127 when the container could not be run
 * (exit-status.ts); a failed run leaves no pod or container behind (CliClient.run).
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
    .passThroughOptions()
    .action(async (image: string, trailing: string[], o: RunFlags, cmd: Command) => {
      let socket: DaemonTarget;
      let id: string;
      try {
        socket = await socketOf(cmd);
        id = await withClient(socket, (client) => create(client, image, trailing, o));
      } catch (err) {
        throw runFailure(err);
      }
      if (o.detach) {
        process.stdout.write(`${id}\n`);
        return;
      }
      await withClient(socket, (client) => follow(client, socket, id, o));
    });
}

/** Makes and starts the container; its id. */
async function create(client: CliClient, image: string, trailing: string[], o: RunFlags): Promise<string> {
  const { command, args } = processArgs(o.entrypoint, trailing);
  const existing = await client.containers();
  if (o.name !== undefined) {
    const holder = existing.find((c) => c.name === o.name);
    if (holder) throw new CoracleError('ALREADY_EXISTS', `the container name "${o.name}" is already in use by container ${shortId(holder.id)}: remove it or pick another name`);
  }
  const name = o.name ?? generateName(new Set(existing.map((c) => c.name)));
  await client.ensureImage(image, await pullAuthFor(image)).catch((err: unknown) => {
    throw pullDenied(image, err);
  });
  // The pod's log dir under the daemon's root: the daemon makes and writes it, `rm` removes it.
  const root = (JSON.parse((await client.status()).info.config ?? '{}') as { root?: string }).root ?? '/var/lib/coracle';
  const logDirectory = join(root, 'cli-logs', name);
  const stdin = o.interactive === true;
  const tty = o.tty === true;
  // As docker: the container's terminal starts at this one's size, before any attach.
  const size = tty && process.stdout.isTTY && process.stdout.rows > 0 && process.stdout.columns > 0 ? { consoleSize: { rows: process.stdout.rows, cols: process.stdout.columns } } : {};
  return client.run({ name, image, command, args, env: parseEnv(o.env ?? []), mounts: o.volume ?? [], ports: o.publish ?? [], logDirectory, stdin, tty, ...size });
}

/** In the foreground: its terminal or its output until it ends, then its status. */
async function follow(client: CliClient, socket: DaemonTarget, id: string, o: RunFlags): Promise<void> {
  const stdin = o.interactive === true;
  const tty = o.tty === true;
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
}
