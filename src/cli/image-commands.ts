import type { Command } from 'commander';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { DaemonTarget } from './daemon-target.js';
import { commitContainer, exportImages, imageHistory, importImages, pullWithProgress } from './coracle-client.js';
import { humanDuration, humanSize, shortId, table } from './format.js';
import { formatList } from './list-format.js';
import { PullView } from './pull-view.js';
import { eachOf, findContainer as find, withClient, type SocketOf } from './with-client.js';
import { removeImageNamed } from './image-rmi.js';
import { operandCommand } from './operand-command.js';
import { CoracleError } from '../errors.js';
import { pullAuthFor, pullDenied } from './credentials-store.js';

/**
 * docker's image commands. `images` itself (a bare list, with import and export subcommands)
 * is registered by main.ts and calls listImages, loadImages and saveImages below.
 */
export function registerImageCommands(program: Command, socketOf: SocketOf): void {
  // In this order in `coracle --help`.
  registerHistory(program, socketOf);
  registerCommit(program, socketOf);
  registerPull(program, socketOf);
  registerSaveLoad(program, socketOf);
  registerRmi(program, socketOf);
}

function registerHistory(program: Command, socketOf: SocketOf): void {
  operandCommand(program, socketOf, { name: 'history', description: 'how an image was made, newest step first', operand: '<image>' }, async (image, _o, socket) => {
    const steps = await imageHistory(socket, image);
    const now = Date.now();
    const rows = steps.map((s) => [s.id === '<missing>' ? s.id : shortId(s.id), s.created ? `${humanDuration(now - s.created)} ago` : '', s.createdBy.length > 45 ? `${s.createdBy.slice(0, 44)}…` : s.createdBy, humanSize(s.size), s.comment]);
    process.stdout.write(table(['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], rows));
  });
}

function registerCommit(program: Command, socketOf: SocketOf): void {
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
}

function registerPull(program: Command, socketOf: SocketOf): void {
  operandCommand(program, socketOf, { name: 'pull', description: "pull an image, each layer's progress shown as it goes", operand: '<image>' }, async (image, _o, socket) => {
    const view = new PullView(process.stdout, process.stdout.isTTY === true);
    process.stdout.write(`Pulling ${image}\n`);
    const auth = await pullAuthFor(image);
    const id = await pullWithProgress(socket, image, (s) => view.step(s), auth).catch((err: unknown) => {
      throw pullDenied(image, err);
    });
    process.stdout.write(`Status: pulled ${image}\n${id}\n`);
  });
}

function registerSaveLoad(program: Command, socketOf: SocketOf): void {
  program
    .command('save')
    .description('write images to a tarball (docker-save format, also an OCI layout); standard output by default')
    .argument('<image...>')
    .option('-o, --output <file>', 'the tarball ("-": standard output, never a terminal)', '-')
    .action(async (images: string[], o: { output: string }, cmd: Command) => {
      if (o.output === '-' && process.stdout.isTTY) throw new CoracleError('FAILED_PRECONDITION', 'cowardly refusing to save to a terminal: use the -o flag or redirect');
      await saveImages(await socketOf(cmd), images, o.output);
    });

  program
    .command('load')
    .description('load the images of a tarball (docker save or OCI layout); standard input by default')
    .option('-i, --input <file>', 'the tarball ("-": standard input, never a terminal)', '-')
    .action(async (o: { input: string }, cmd: Command) => {
      if (o.input === '-' && process.stdin.isTTY) throw new CoracleError('FAILED_PRECONDITION', 'requested load from standard input, but it is a terminal: use the -i flag or redirect');
      await loadImages(await socketOf(cmd), o.input);
    });
}

function registerRmi(program: Command, socketOf: SocketOf): void {
  const description = 'remove images: a name is untagged, and the image goes with its last name; an id removes the image';
  const options = [{ flags: '-f, --force', description: 'remove an image a stopped container uses, or all the names of an image by its id' }];
  operandCommand<string[], { force?: boolean }>(program, socketOf, { name: 'rmi', description, operand: '<image...>', options }, (images, o, socket) =>
    withClient(socket, (client) => eachOf(images, (i) => removeImageNamed(socket, client, i, o.force === true))),
  );
}

/** docker images's template fields, each with its column header. */
const IMAGE_COLUMNS = {
  headers: { Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Size: 'SIZE', Containers: 'CONTAINERS', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', VirtualSize: 'VIRTUAL SIZE' },
  defaults: ['Repository', 'Tag', 'ID', 'Size'],
};

/**
 * `images` lists when called bare (its import/export subcommands stay as they are): a row a
 * name, as docker's; -q the ids, each once. CRI's image list has no creation time: CreatedSince
 * and CreatedAt are N/A, as docker shows what it does not know.
 */
export async function listImages(socket: DaemonTarget, o: { quiet?: boolean; format?: string } = {}): Promise<void> {
  await withClient(socket, async (client) => {
    const images = await client.listImages();
    if (o.quiet) {
      process.stdout.write([...new Set(images.map((i) => shortId(i.id)))].map((id) => `${id}\n`).join(''));
      return;
    }
    const rows = images.flatMap((i) => {
      const tags = i.repoTags.length ? i.repoTags : ['<none>:<none>'];
      const digest = i.repoDigests[0]?.split('@')[1] ?? '<none>';
      return tags.map((t) => {
        const at = t.lastIndexOf(':');
        const size = humanSize(i.size);
        return { Repository: t.slice(0, at), Tag: t.slice(at + 1), Digest: digest, ID: shortId(i.id), CreatedSince: 'N/A', CreatedAt: 'N/A', Size: size, Containers: 'N/A', SharedSize: 'N/A', UniqueSize: 'N/A', VirtualSize: size };
      });
    });
    process.stdout.write(formatList(o.format, rows, IMAGE_COLUMNS));
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
