import type { Command } from 'commander';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { dirname, join } from 'node:path';
import { CliClient, type CliContainer, type PortSpec } from './cli-client.js';
import type { DaemonTarget } from './daemon-target.js';
import { commitContainer, containerTop, exportImages, imageHistory, importImages, pullWithProgress, restartContainer } from './coracle-client.js';
import { PullView } from './pull-view.js';
import { CoracleError, invalidArgument } from '../errors.js';
import { CORACLE_VERSION } from '../version.js';
import { containerStatus, humanDuration, humanSize, quotedCommand, shortId, table } from './format.js';
import { checkName, generateName, resolveContainer } from './names.js';
import { runSession, type SessionEnd } from './terminal-session.js';

/**
 * Docker's everyday commands, over the daemon's socket, on the services kubelet uses:
 * `coracle run` makes a pod sandbox with one container, labelled as the CLI's.
 */

/** Where the commands connect: -H / CORACLE_HOST, else the config's socket. */
export type SocketOf = (command: Command) => Promise<DaemonTarget>;

async function withClient<T>(socket: DaemonTarget, work: (c: CliClient) => Promise<T>): Promise<T> {
  const c = new CliClient(socket);
  try {
    return await work(c);
  } finally {
    c.close();
  }
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function parseEnv(items: string[]): { key: string; value: string }[] {
  return items.map((e) => {
    const at = e.indexOf('=');
    // docker: "-e NAME" passes the client's own value of NAME.
    return at < 0 ? { key: e, value: process.env[e] ?? '' } : { key: e.slice(0, at), value: e.slice(at + 1) };
  });
}

function parseVolume(v: string): { hostPath: string; containerPath: string; readonly: boolean } {
  const [hostPath, containerPath, mode] = v.split(':');
  if (!hostPath?.startsWith('/') || !containerPath?.startsWith('/') || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    throw invalidArgument(`invalid volume "${v}": expected /host/path:/container/path[:ro|rw]`);
  }
  return { hostPath, containerPath, readonly: mode === 'ro' };
}

function parsePort(p: string): PortSpec {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(p);
  const hostPort = Number(m?.[2]);
  const containerPort = Number(m?.[3]);
  if (!m || hostPort < 1 || hostPort > 65535 || containerPort < 1 || containerPort > 65535) throw invalidArgument(`invalid port mapping "${p}": expected [ip:]hostPort:containerPort[/tcp|udp]`);
  return { hostIp: m[1] ?? '', hostPort, containerPort, protocol: m[4] === 'udp' ? 'UDP' : 'TCP' };
}

/** The messages of a CRI log file: partial lines joined, each line to its stream. */
export function criLogLines(text: string, pending = { stdout: '', stderr: '' }): { stream: 'stdout' | 'stderr'; line: string }[] {
  const out: { stream: 'stdout' | 'stderr'; line: string }[] = [];
  // A partial line goes on in the next line of the same stream, whatever comes between
  // (and across calls, when the caller keeps `pending`).
  for (const raw of text.split('\n')) {
    const m = /^\S+ (stdout|stderr) (P|F) (.*)$/.exec(raw);
    if (!m) continue;
    const stream = m[1] as 'stdout' | 'stderr';
    pending[stream] += m[3];
    if (m[2] === 'F') {
      out.push({ stream, line: pending[stream] });
      pending[stream] = '';
    }
  }
  return out;
}

/**
 * Prints a container's CRI log; with `follow`, what it appends until it ends. The file is
 * read from where the last read stopped, whole lines at a time.
 */
async function printLogs(c: CliContainer, opts: { tail?: string; follow?: boolean }, client: CliClient): Promise<void> {
  let offset = 0;
  let carry = Buffer.alloc(0);
  const pending = { stdout: '', stderr: '' };
  const readNew = async (): Promise<{ stream: 'stdout' | 'stderr'; line: string }[]> => {
    const fh = await open(c.logPath, 'r').catch(() => undefined);
    if (!fh) return [];
    try {
      const chunks: Buffer[] = [carry];
      for (;;) {
        const { bytesRead, buffer } = await fh.read({ buffer: Buffer.alloc(1 << 16), position: offset });
        if (bytesRead === 0) break;
        offset += bytesRead;
        chunks.push(buffer.subarray(0, bytesRead));
      }
      const all = Buffer.concat(chunks);
      const cut = all.lastIndexOf(0x0a) + 1;
      carry = all.subarray(cut);
      return criLogLines(all.subarray(0, cut).toString('utf8'), pending);
    } finally {
      await fh.close();
    }
  };
  const print = (lines: { stream: 'stdout' | 'stderr'; line: string }[]): void => {
    for (const l of lines) (l.stream === 'stdout' ? process.stdout : process.stderr).write(`${l.line}\n`);
  };
  const first = await readNew();
  print(opts.tail !== undefined && opts.tail !== 'all' ? first.slice(Math.max(0, first.length - Number(opts.tail))) : first);
  if (!opts.follow) return;
  for (;;) {
    const now = await client.container(c.id, c.podId);
    // What it wrote as it ended comes with this read too.
    print(await readNew());
    if (!now || now.state !== 'running') return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const terminal = (): Pick<Parameters<typeof runSession>[1], 'input' | 'output' | 'errors'> => ({ input: process.stdin, output: process.stdout, errors: process.stderr });

/** The exit code of a session for the CLI's own: the process's, 0 after a detach. */
function finish(end: SessionEnd): void {
  if (end.kind === 'failed') throw new CoracleError('INTERNAL', end.message);
  process.exitCode = end.kind === 'exited' ? end.exitCode : 0;
}

/** Attached to a container until it ends (its exit code is ours) or Ctrl+P Ctrl+Q. */
async function attachTo(client: CliClient, id: string, o: { stdin: boolean; tty: boolean }): Promise<void> {
  const url = await client.streamUrl('attach', id, o);
  const end = await runSession(url, { ...o, detachKeys: true, ...terminal() });
  if (end.kind === 'failed') throw new CoracleError('INTERNAL', end.message);
  if (end.kind === 'detached') return;
  // The attach ends as the process does; its exit is recorded a moment later.
  for (let i = 0; i < 50; i++) {
    const c = await client.container(id, '');
    if (c?.state !== 'running') {
      process.exitCode = c?.state === 'exited' ? c.exitCode : 0;
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function registerDockerCommands(program: Command, socketOf: SocketOf): void {
  const find = async (client: CliClient, text: string): Promise<CliContainer> => resolveContainer(await client.containers(), text);

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
        const id = await client.run({ name, image, command, env, mounts, ports, logDirectory, stdin, tty });
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

  program
    .command('history')
    .description('how an image was made, newest step first')
    .argument('<image>')
    .action(async (image: string, _o: unknown, cmd: Command) => {
      const steps = await imageHistory(await socketOf(cmd), image);
      const now = Date.now();
      const rows = steps.map((s) => [s.id === '<missing>' ? s.id : shortId(s.id), s.created ? `${humanDuration(now - s.created)} ago` : '', s.createdBy.length > 45 ? `${s.createdBy.slice(0, 44)}…` : s.createdBy, humanSize(s.size), s.comment]);
      process.stdout.write(table(['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], rows));
    });

  program
    .command('commit')
    .description("make a container's changes a new image: its read-write layer on top of its image")
    .argument('<container>')
    .argument('[repository[:tag]]')
    .option('-m, --message <text>', 'the history comment')
    .option('-a, --author <name>', 'the author')
    .action(async (name: string, repoTag: string | undefined, o: { message?: string; author?: string }, cmd: Command) => {
      const socket = await socketOf(cmd);
      const c = await withClient(socket, (client) => find(client, name));
      const id = await commitContainer(socket, c.id, { ...(repoTag ? { repoTag } : {}), ...(o.message ? { comment: o.message } : {}), ...(o.author ? { author: o.author } : {}) });
      process.stdout.write(`${id}\n`);
    });

  program
    .command('pull')
    .description('pull an image, each layer\'s progress shown as it goes')
    .argument('<image>')
    .action(async (image: string, _o: unknown, cmd: Command) => {
      const view = new PullView(process.stdout, process.stdout.isTTY === true);
      process.stdout.write(`Pulling ${image}\n`);
      const id = await pullWithProgress(await socketOf(cmd), image, (s) => view.step(s));
      process.stdout.write(`Status: pulled ${image}\n${id}\n`);
    });

  program
    .command('save')
    .description('write images to a tarball (docker-save format, also an OCI layout)')
    .argument('<image...>')
    .requiredOption('-o, --output <file>', 'the tarball')
    .action(async (images: string[], o: { output: string }, cmd: Command) => {
      await saveImages(await socketOf(cmd), images, o.output);
    });

  program
    .command('load')
    .description('load the images of a tarball (docker save or OCI layout)')
    .requiredOption('-i, --input <file>', 'the tarball')
    .action(async (o: { input: string }, cmd: Command) => {
      await loadImages(await socketOf(cmd), o.input);
    });

  program
    .command('rmi')
    .description('remove images')
    .argument('<image...>')
    .action(async (images: string[], _o: unknown, cmd: Command) => {
      await withClient(await socketOf(cmd), async (client) => {
        for (const i of images) {
          await client.removeImage(i);
          process.stdout.write(`Deleted: ${i}\n`);
        }
      });
    });

  program
    .command('version')
    .description("the client's and the daemon's versions")
    .action(async (_o: unknown, cmd: Command) => {
      process.stdout.write(`Client:\n Version:\t${CORACLE_VERSION}\n Node:\t\t${process.version}\n\n`);
      await withClient(await socketOf(cmd), async (client) => {
        const v = await client.version();
        process.stdout.write(`Server: ${v.runtimeName}\n Version:\t${v.runtimeVersion}\n CRI API:\t${v.apiVersion}\n`);
      });
    });

  program
    .command('info')
    .description('what the daemon runs and how it is set up')
    .action(async (_o: unknown, cmd: Command) => {
      await withClient(await socketOf(cmd), async (client) => {
        const [s, containers, images] = await Promise.all([client.status(), client.containers(), client.listImages()]);
        const config = JSON.parse(s.info.config ?? '{}') as { root?: string; state?: string; runtime?: { default_handler?: string }; cni?: { bridge?: string; pod_subnet?: string } };
        const count = (st: string): number => containers.filter((c) => c.state === st).length;
        process.stdout.write(
          [
            `Containers: ${containers.length}`,
            ` Running: ${count('running')}`,
            ` Stopped: ${count('exited')}`,
            ` Created: ${count('created')}`,
            `Images: ${images.length}`,
            `Default Runtime: ${config.runtime?.default_handler ?? ''}`,
            `Root Dir: ${config.root ?? ''}`,
            `State Dir: ${config.state ?? ''}`,
            `Pod Network: ${config.cni?.bridge ?? ''} ${config.cni?.pod_subnet ?? ''}`,
            ...s.conditions.map((c) => `${c.type}: ${c.status}${c.reason ? ` (${c.reason}: ${c.message})` : ''}`),
          ].join('\n') + '\n',
        );
      });
    });
}

/** `images` lists when called bare; its import/export subcommands stay as they are. */
export async function listImages(socket: DaemonTarget): Promise<void> {
  await withClient(socket, async (client) => {
    const rows = (await client.listImages()).flatMap((i) => {
      const tags = i.repoTags.length ? i.repoTags : ['<none>:<none>'];
      return tags.map((t) => {
        const at = t.lastIndexOf(':');
        return [t.slice(0, at), t.slice(at + 1), shortId(i.id), humanSize(i.size)];
      });
    });
    process.stdout.write(table(['REPOSITORY', 'TAG', 'IMAGE ID', 'SIZE'], rows));
  });
}

/** Images to a tarball ("-": standard output), written beside it and renamed: a failed save leaves no partial file. */
export async function saveImages(socket: DaemonTarget, images: string[], output: string): Promise<void> {
  if (output === '-') {
    await pipeline(exportImages(socket, images), process.stdout);
    return;
  }
  const tmp = `${output}.${process.pid}.tmp`;
  try {
    await pipeline(exportImages(socket, images), createWriteStream(tmp));
    await rename(tmp, output);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The images of a tarball ("-": standard input) into the daemon, each named as loaded. */
export async function loadImages(socket: DaemonTarget, input: string): Promise<void> {
  const source = input === '-' ? process.stdin : createReadStream(input, { highWaterMark: 1 << 20 });
  for (const i of await importImages(socket, source as AsyncIterable<Buffer>)) process.stdout.write(`Loaded image: ${i.repoTags.join(', ') || i.id}\n`);
}
