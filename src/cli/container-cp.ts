import type { Command } from 'commander';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, stat, symlink, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CoracleError, isErrno } from '../errors.js';
import { copyFromContainer, copyToContainer } from './coracle-client.js';
import { usageError } from './exit-status.js';
import { findContainer, withClient, type SocketOf } from './with-client.js';

type TarStream = typeof import('tar-stream');
/** tar-stream is CommonJS: loaded when cp runs. */
const tarStream = (): TarStream => createRequire(import.meta.url)('tar-stream') as TarStream;

/** `CONTAINER:PATH` split; undefined for a local path (one with no colon before any slash). */
export function containerPath(arg: string): { container: string; path: string } | undefined {
  const colon = arg.indexOf(':');
  if (colon <= 0 || arg.slice(0, colon).includes('/')) return undefined;
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

/**
 * The tar from a container unpacked on this host at `dest`: into it when it is a directory,
 * else as it (the top entry renamed). The tar's content is the container's, so not trusted:
 * an entry must stay under the destination, and its directory must be one this unpacking
 * made (or the destination, or a real directory already there), never a symlink, so a symlink
 * in the tar is created as a symlink and never written through; files are opened O_NOFOLLOW.
 */
export async function unpackOnHost(tar: AsyncIterable<Buffer>, dest: string): Promise<void> {
  const target = resolve(dest);
  let into = target;
  let rename: string | undefined;
  const st = await stat(target).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  });
  if (!st?.isDirectory()) {
    into = dirname(target);
    rename = basename(target);
    if (!(await stat(into).catch(() => undefined))?.isDirectory()) throw new CoracleError('NOT_FOUND', `cp: ${dest}: no such directory: ${into}`);
  }
  const dirs = new Set<string>(['']);
  const extract = tarStream().extract();
  const done = (async (): Promise<void> => {
    for await (const e of extract) {
      const h = e.header;
      const parts = posix.normalize(h.name).split('/').filter((p) => p !== '' && p !== '.');
      if (parts.length === 0 || parts.includes('..') || h.name.startsWith('/')) throw new CoracleError('INVALID_ARGUMENT', `cp: entry "${h.name}" leaves the destination`);
      if (rename !== undefined) parts[0] = rename;
      const rel = parts.join('/');
      const parent = parts.slice(0, -1).join('/');
      if (!dirs.has(parent)) {
        // Every component, not only the last: lstat follows a symlink anywhere before it, so
        // `x` -> / then `x/etc/cron.d/f` would otherwise write into the host's /etc.
        const comps = parts.slice(0, -1);
        for (let i = 1; i <= comps.length; i++) {
          const prefix = comps.slice(0, i).join('/');
          if (dirs.has(prefix)) continue;
          const p = await lstat(join(into, prefix)).catch(() => undefined);
          if (!p?.isDirectory()) throw new CoracleError('INVALID_ARGUMENT', `cp: entry "${h.name}": ${prefix} is not a directory (a symlink?)`);
          dirs.add(prefix);
        }
      }
      const path = join(into, rel);
      const there = await lstat(path).catch(() => undefined);
      if (h.type === 'directory') {
        if (there && !there.isDirectory()) await unlink(path);
        if (!there?.isDirectory()) await mkdir(path, { mode: (h.mode ?? 0o755) & 0o7777 });
        dirs.add(rel);
        e.resume();
      } else if (h.type === 'file' || h.type === 'contiguous-file') {
        if (there && !there.isFile()) await unlink(path);
        const file = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, (h.mode ?? 0o644) & 0o7777);
        await pipeline(e, createWriteStream('', { fd: file.fd, autoClose: false })).finally(() => file.close());
      } else if (h.type === 'symlink') {
        if (there) await unlink(path);
        await symlink(h.linkname ?? '', path);
        e.resume();
      } else {
        // Devices, FIFOs and hard links are left out, as a user copying files wants them.
        e.resume();
      }
    }
  })().catch((err: unknown) => {
    extract.destroy(err instanceof Error ? err : new Error(String(err)));
    throw err;
  });
  await Promise.all([pipeline(Readable.from(tar), extract), done]);
}

/** A host file or directory as a tar, its top entry named as its last component; symlinks stay symlinks. */
function packHost(src: string): AsyncIterable<Buffer> {
  const tar = tarStream().pack();
  const add = async (path: string, name: string): Promise<void> => {
    const st = await lstat(path);
    const base = { name, mode: st.mode & 0o7777, mtime: st.mtime };
    if (st.isDirectory()) {
      await new Promise<void>((ok, fail) => tar.entry({ ...base, type: 'directory' }, (err) => (err ? fail(err) : ok())));
      for (const child of (await readdir(path)).sort()) await add(join(path, child), `${name}/${child}`);
    } else if (st.isSymbolicLink()) {
      const linkname = await readlink(path);
      await new Promise<void>((ok, fail) => tar.entry({ ...base, type: 'symlink', linkname }, (err) => (err ? fail(err) : ok())));
    } else if (st.isFile()) {
      const entry = tar.entry({ ...base, type: 'file', size: st.size });
      await pipeline(createReadStream(path, { start: 0, end: Math.max(st.size - 1, 0) }), entry);
    }
  };
  add(resolve(src), basename(resolve(src)) || '.').then(
    () => tar.finalize(),
    (err: unknown) => tar.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  return tar as AsyncIterable<Buffer>;
}

/**
 * docker cp, both ways: `cp CONTAINER:SRC DEST` and `cp SRC CONTAINER:DEST`, `-` for a tar on
 * stdout or stdin. The daemon reads and writes the container's root (CopyFromContainer,
 * CopyToContainer), resolving its paths inside that root; this side packs and unpacks on
 * the host.
 */
export function registerCp(program: Command, socketOf: SocketOf): void {
  program
    .command('cp')
    .description('copy files between a container and the host: cp CONTAINER:SRC DEST, cp SRC CONTAINER:DEST ("-": a tar on stdout/stdin)')
    .argument('<source>')
    .argument('<destination>')
    .action(async (source: string, destination: string, _o: unknown, cmd: Command) => {
      const from = containerPath(source);
      const to = containerPath(destination);
      if ((from === undefined) === (to === undefined)) throw usageError('cp: one of source and destination must be CONTAINER:PATH, the other a local path');
      const inside = (from ?? to)!;
      if (!inside.path.startsWith('/')) throw usageError(`cp: ${inside.container}:${inside.path}: the path in the container must be absolute`);
      const socket = await socketOf(cmd);
      const c = await withClient(socket, (client) => findContainer(client, inside.container));
      if (from) {
        const tar = copyFromContainer(socket, c.id, from.path);
        if (destination === '-') await pipeline(Readable.from(tar), process.stdout);
        else await unpackOnHost(tar, destination);
      } else {
        if (source !== '-' && !(await lstat(source).catch(() => undefined))) throw new CoracleError('NOT_FOUND', `cp: ${source}: no such file or directory`);
        const tar = source === '-' ? (process.stdin as AsyncIterable<Buffer>) : packHost(source);
        await copyToContainer(socket, c.id, to!.path, tar);
      }
    });
}
