import { closeSync, createWriteStream, fchmodSync, openSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CoracleError, failedPrecondition, invalidArgument, isErrno, notFound } from '../errors.js';
import type { Logger } from '../log.js';
import { mkdirat, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDONLY, O_WRONLY, openat, symlinkat, unlinkat } from '../util/at-syscalls.js';
import { copyTarget, type CopyTarget, type DestKind } from '../util/copy-target.js';
import { lstatAt, openInRoot, walkInRoot } from '../util/in-root.js';
import type { ContainerContext } from './container-context.js';
import { treeTar } from './layer-diff.js';

/** Caps on what one CopyToContainer unpacks: bytes of file data, entries, and one name's length. */
export const COPY_LIMITS = { bytes: 1 << 30, entries: 100_000, name: 4096 };

/** A path of the container, absolute, as relative to its root ('' for `/`). */
const inRoot = (path: string): string => {
  const rel = posix.normalize(path).replace(/^\/+/, '').replace(/\/+$/, '');
  return rel === '.' ? '' : rel;
};

/**
 * The container's root as a directory fd, its path inside it made relative ('' for `/`).
 * The root is there while the container is created or running (overlay mounted); a stopped
 * container's root has been let go, and is refused.
 */
function openRoot(ctx: ContainerContext, id: string, path: string, step: string): { rootFd: number; rel: string; cid: string } {
  const c = ctx.mustGet(id);
  if (!path.startsWith('/')) throw invalidArgument(`container ${c.id}: ${step}: path "${path}" is not absolute`);
  if (path.length > COPY_LIMITS.name) throw invalidArgument(`container ${c.id}: ${step}: path longer than ${COPY_LIMITS.name}`);
  const rootfs = ctx.paths(c.id).rootfs;
  let mounted = false;
  try {
    mounted = statSync(rootfs).dev !== statSync(dirname(rootfs)).dev;
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  if (!mounted) throw failedPrecondition(`container ${c.id}: ${step}: its root is not mounted (the container is stopped): start it first`);
  return { rootFd: openSync(rootfs, O_RDONLY | O_DIRECTORY), rel: inRoot(path), cid: c.id };
}

/** An error of a copy, coded and named: a path missing in the container is NOT_FOUND, as docker says it. */
function inContainer(cid: string, step: string, err: unknown): CoracleError {
  if (err instanceof CoracleError) return err;
  if (isErrno(err, 'ENOENT')) return new CoracleError('NOT_FOUND', `container ${cid}: ${step}: no such file or directory`, { cause: err });
  const code = isErrno(err, 'ENOTDIR') || isErrno(err, 'ELOOP') ? 'INVALID_ARGUMENT' : 'INTERNAL';
  return new CoracleError(code, `container ${cid}: ${step}: ${(err as Error).message}`, { cause: err });
}

/**
 * docker cp CONTAINER:SRC: `path` as a tar, its top entry named as its last component. The
 * directories on the way resolve inside the root (a symlink among them is followed as the
 * container would, never out of it); the last component is not followed (a symlink is sent
 * as a symlink), as docker's. Each entry is read by fd, as a commit reads (layer-diff).
 */
export function copyFrom(ctx: ContainerContext, id: string, path: string): AsyncIterable<Buffer> {
  const { rootFd, rel, cid } = openRoot(ctx, id, path, 'copy from');
  let parentFd: number | undefined;
  try {
    if (rel !== '') {
      parentFd = openInRoot(rootFd, posix.dirname(rel) === '.' ? '' : posix.dirname(rel), O_RDONLY | O_DIRECTORY);
      if (!lstatAt(parentFd, posix.basename(rel))) throw new CoracleError('NOT_FOUND', `container ${cid}: copy from ${path}: no such file or directory`);
    }
  } catch (err) {
    if (parentFd !== undefined) closeSync(parentFd);
    closeSync(rootFd);
    throw inContainer(cid, `copy from ${path}`, err);
  }
  const tar = treeTar(async (t) => {
    try {
      if (parentFd === undefined) await t.walk(rootFd);
      else await t.entry(parentFd, posix.basename(rel));
    } finally {
      if (parentFd !== undefined) closeSync(parentFd);
      closeSync(rootFd);
    }
  });
  return tar;
}

type Extract = ReturnType<typeof import('tar-stream').extract>;
const extractor = (): Extract => (createRequire(import.meta.url)('tar-stream') as typeof import('tar-stream')).extract();

/** Each directory's mode, set once what is in it is written (as tar does: a 0555 one still gets its children); never through a symlink. */
function applyDirModes(rootFd: number, modes: [string, number][]): void {
  for (const [rel, mode] of modes.reverse()) {
    let fd: number;
    try {
      fd = openInRoot(rootFd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (err) {
      // A later entry of the tar took its name: that one stays as it is.
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || isErrno(err, 'ELOOP')) continue;
      throw err;
    }
    try {
      fchmodSync(fd, mode);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * How a CopyToContainer's tar meets DEST: 'docker', docker cp SRC's rules (copyTarget, on
 * what DEST is in the root and whether the tar's top entry is a directory); 'contents'
 * (docker cp SRC/.), the top entry stands for DEST; 'archive' (docker cp -, a tar on stdin),
 * the tar as it is into DEST, a directory that must exist.
 */
export type CopyMode = 'docker' | 'contents' | 'archive';

/** An archive's DEST: the directory itself, or why not (missing: NOT_FOUND; not a directory). */
function archiveTarget(cid: string, step: string, path: string, destKind: DestKind): CopyTarget {
  if (destKind === 'missing') throw notFound(`container ${cid}: ${step}: ${path}: no such directory (a tar from stdin goes into a directory that exists)`);
  if (destKind === 'other') throw failedPrecondition(`container ${cid}: ${step}: ${path}: not a directory (a tar from stdin goes into a directory that exists)`);
  return { dir: path, contents: false };
}

/**
 * docker cp SRC CONTAINER:DEST and docker cp - CONTAINER:DEST: the tar unpacked at `path`,
 * as `how` says (CopyMode). Every entry's directory is resolved inside the
 * root (walkInRoot: symlinks followed only inside, missing directories made), and the entry
 * made by name in that directory's fd with O_NOFOLLOW|O_EXCL after removing what was there,
 * so neither a symlink the container made nor one in the tar leads out of the root.
 * Directories get their modes last, files theirs at once. Files, directories and symlinks
 * are carried; other kinds (hard links, devices, FIFOs) are refused. Capped by COPY_LIMITS.
 */
export async function copyTo(ctx: ContainerContext, id: string, path: string, data: AsyncIterable<Buffer>, log: Logger, how: CopyMode = 'docker'): Promise<void> {
  const { rootFd, rel, cid } = openRoot(ctx, id, path, 'copy to');
  const step = `copy to ${path}`;
  try {
    let destKind: DestKind = 'directory';
    try {
      closeSync(openInRoot(rootFd, rel, O_RDONLY | O_DIRECTORY));
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
      if (rel === '') throw err;
      destKind = isErrno(err, 'ENOENT') ? 'missing' : 'other';
    }
    // An archive's DEST is checked before its tar is read, as docker checks it before sending.
    let target: CopyTarget | undefined = how === 'archive' ? archiveTarget(cid, step, path, destKind) : undefined;
    let into = target ? inRoot(target.dir) : '';
    const modes: [string, number][] = [];
    let bytes = 0;
    let entries = 0;
    const extract = extractor();
    const done = (async (): Promise<void> => {
      for await (const e of extract) {
        const h = e.header;
        if (++entries > COPY_LIMITS.entries) throw invalidArgument(`container ${cid}: ${step}: more than ${COPY_LIMITS.entries} entries`);
        if (h.name.length > COPY_LIMITS.name) throw invalidArgument(`container ${cid}: ${step}: an entry's name is longer than ${COPY_LIMITS.name}`);
        const parts = posix.normalize(h.name).split('/').filter((p) => p !== '' && p !== '.');
        // An archive's `./` (tar -C DIR -c .) is DEST itself, which exists: kept as it is.
        if (how === 'archive' && parts.length === 0 && h.type === 'directory' && !h.name.startsWith('/')) {
          e.resume();
          continue;
        }
        if (parts.length === 0 || parts.includes('..') || h.name.startsWith('/')) throw invalidArgument(`container ${cid}: ${step}: entry "${h.name}" leaves the destination`);
        const mode = (h.mode ?? (h.type === 'directory' ? 0o755 : 0o644)) & 0o7777;
        if (target === undefined) {
          const t = copyTarget({ dir: h.type === 'directory', contents: how === 'contents' }, path, destKind);
          if (typeof t === 'string') throw invalidArgument(`container ${cid}: ${step}: ${t}`);
          target = t;
          into = inRoot(t.dir);
          // A DEST made here (SRC a directory) gets SRC's mode, with the others at the end.
          if (t.contents && destKind === 'missing') {
            closeSync(walkInRoot(rootFd, into, { flags: O_RDONLY | O_DIRECTORY, mkdir: true }).fd);
            modes.push([into, 0o755]);
          }
        }
        if (target.contents) {
          parts.shift();
          if (parts.length === 0) {
            if (h.type === 'directory' && modes.length > 0 && destKind === 'missing') modes[0] = [into, mode];
            e.resume();
            continue;
          }
        } else if (target.rename !== undefined) parts[0] = target.rename;
        const name = parts.pop()!;
        const dir = [into, ...parts].filter((p) => p !== '').join('/');
        const dirFd = walkInRoot(rootFd, dir, { flags: O_RDONLY | O_DIRECTORY, mkdir: true }).fd;
        try {
          const existing = lstatAt(dirFd, name);
          if (h.type === 'directory') {
            if (existing && !existing.isDirectory()) unlinkat(dirFd, name);
            if (!existing?.isDirectory()) mkdirat(dirFd, name, 0o700);
            modes.push([dir === '' ? name : `${dir}/${name}`, mode]);
            e.resume();
          } else if (h.type === 'file' || h.type === 'contiguous-file') {
            bytes += h.size ?? 0;
            if (bytes > COPY_LIMITS.bytes) throw invalidArgument(`container ${cid}: ${step}: more than ${COPY_LIMITS.bytes} bytes`);
            if (existing) unlinkat(dirFd, name, existing.isDirectory() ? 0x200 : 0);
            const fd = openat(dirFd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
            fchmodSync(fd, mode);
            await pipeline(e, createWriteStream('', { fd }));
          } else if (h.type === 'symlink') {
            if (existing) unlinkat(dirFd, name, existing.isDirectory() ? 0x200 : 0);
            symlinkat(h.linkname ?? '', dirFd, name);
            e.resume();
          } else {
            throw invalidArgument(`container ${cid}: ${step}: entry "${h.name}": ${h.type} entries are not copied`);
          }
        } finally {
          closeSync(dirFd);
        }
      }
    })().catch((err: unknown) => {
      extract.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    });
    await Promise.all([pipeline(Readable.from(data), extract), done]);
    applyDirModes(rootFd, modes);
    log.info('copied into container', { container: cid, path, entries, bytes });
  } catch (err) {
    throw inContainer(cid, step, err);
  } finally {
    closeSync(rootFd);
  }
}
