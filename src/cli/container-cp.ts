import type { Command } from 'commander';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, stat, symlink, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CoracleError, isErrno } from '../errors.js';
import { copyTarget, trimDest, type CopyTarget, type DestKind } from '../util/copy-target.js';
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

/** SRC names a directory's contents, not the directory: `DIR/.`, `.`, or the root. */
export const srcContents = (src: string): boolean => src === '.' || src.endsWith('/.') || posix.normalize(src) === '/';

/**
 * Where `cp SRC DEST` writes, by docker's rules (copyTarget), SRC as typed (its `/.` or
 * trailing `/`) and a directory or not, DEST as typed and what is there now.
 */
export function cpTarget(src: string, srcDir: boolean, dest: string, destKind: DestKind): CopyTarget {
  if (!srcDir && /\/\.?$/.test(src)) throw new CoracleError('INVALID_ARGUMENT', `cp: ${src}: not a directory`);
  const t = copyTarget({ dir: srcDir, contents: srcContents(src) }, dest, destKind);
  if (typeof t === 'string') throw new CoracleError('INVALID_ARGUMENT', `cp: ${t}`);
  return t;
}

/** Each directory's mode, set once what is in it is written (as tar does: a 0555 one still gets its children); by fd, never through a symlink. */
async function applyDirModes(modes: [string, number][]): Promise<void> {
  for (const [path, mode] of modes.reverse()) {
    const dir = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW).catch((err: unknown) => {
      // A later entry of the tar took its name: that one stays as it is.
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || isErrno(err, 'ELOOP')) return undefined;
      throw err;
    });
    if (dir) await dir.chmod(mode).finally(() => dir.close());
  }
}

/**
 * The tar from a container (of `src`, the container path as typed) unpacked on this host
 * at `dest`, by cpTarget. The tar's content is the container's, so not trusted: an entry
 * must stay under the destination, and its directory must be one this unpacking made (or
 * the destination, or a real directory already there), never a symlink, so a symlink in the
 * tar is created as a symlink and never written through; files are opened O_NOFOLLOW.
 */
export async function unpackOnHost(tar: AsyncIterable<Buffer>, dest: string, src = ''): Promise<void> {
  const st = await stat(resolve(dest)).catch((err: unknown) => {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
    throw err;
  });
  const destKind: DestKind = !st ? 'missing' : st.isDirectory() ? 'directory' : 'other';
  // The container's root comes as what it holds: no top entry.
  const rootless = src !== '' && posix.normalize(src) === '/';
  let target: CopyTarget | undefined;
  let into = '';
  let madeDest = false;
  const modes: [string, number][] = [];
  const place = async (t: CopyTarget): Promise<void> => {
    into = resolve(t.dir);
    if ((await stat(into).catch(() => undefined))?.isDirectory()) return;
    const parent = t.contents ? dirname(into) : into;
    if (!(await stat(parent).catch(() => undefined))?.isDirectory()) throw new CoracleError('NOT_FOUND', `cp: ${dest}: no such directory: ${parent}`);
    // Made private; its mode (the top entry's) is set at the end.
    await mkdir(into, { mode: 0o700 });
    modes.push([into, 0o755]);
    madeDest = true;
  };
  if (rootless) await place((target = cpTarget(src, true, dest, destKind)));
  const dirs = new Set<string>(['']);
  const extract = tarStream().extract();
  const done = (async (): Promise<void> => {
    for await (const e of extract) {
      const h = e.header;
      const parts = posix.normalize(h.name).split('/').filter((p) => p !== '' && p !== '.');
      if (parts.length === 0 || parts.includes('..') || h.name.startsWith('/')) throw new CoracleError('INVALID_ARGUMENT', `cp: entry "${h.name}" leaves the destination`);
      if (target === undefined) await place((target = cpTarget(src, h.type === 'directory', dest, destKind)));
      const mode = (h.mode ?? (h.type === 'directory' ? 0o755 : 0o644)) & 0o7777;
      if (target.contents && !rootless) {
        // The top entry is DEST itself: only its mode is taken, and only when DEST was made here.
        parts.shift();
        if (parts.length === 0) {
          if (madeDest && h.type === 'directory') modes[0] = [into, mode];
          e.resume();
          continue;
        }
      } else if (target.rename !== undefined) parts[0] = target.rename;
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
        if (!there?.isDirectory()) await mkdir(path, { mode: 0o700 });
        modes.push([path, mode]);
        dirs.add(rel);
        e.resume();
      } else if (h.type === 'file' || h.type === 'contiguous-file') {
        if (there && !there.isFile()) await unlink(path);
        const file = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode);
        // A file already there keeps its mode through O_CREAT: the copied one's is set.
        await file
          .chmod(mode)
          .then(() => pipeline(e, createWriteStream('', { fd: file.fd, autoClose: false })))
          .finally(() => file.close());
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
  await applyDirModes(modes);
}

/**
 * A host file or directory as a tar, its top entry named as its last component; symlinks
 * stay symlinks, but for SRC itself when it ends in `/` or `/.` (a directory meant).
 */
function packHost(src: string): AsyncIterable<Buffer> {
  const tar = tarStream().pack();
  const add = async (path: string, name: string, follow = false): Promise<void> => {
    const st = follow ? await stat(path) : await lstat(path);
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
  // The host's root has no name: only its contents are ever copied (srcContents), the top entry a stand-in.
  add(resolve(src), basename(resolve(src)) || 'root', /\/\.?$/.test(src)).then(
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
        else await unpackOnHost(tar, destination, from.path);
      } else {
        if (source !== '-') {
          const st = await stat(source).catch(() => undefined);
          if (!st && !(await lstat(trimDest(source)).catch(() => undefined))) throw new CoracleError('NOT_FOUND', `cp: ${source}: no such file or directory`);
          if (!st?.isDirectory() && /\/\.?$/.test(source)) throw new CoracleError('INVALID_ARGUMENT', `cp: ${source}: not a directory`);
        }
        // DIR/. sends DIR's tar all the same: the daemon, which sees DEST, leaves its top entry out.
        const tar = source === '-' ? (process.stdin as AsyncIterable<Buffer>) : packHost(source);
        // A tar on stdin goes into DEST as it is, a directory that must exist (docker cp -).
        await copyToContainer(socket, c.id, to!.path, tar, source === '-' ? { archive: true } : { contents: srcContents(source) });
      }
    });
}
