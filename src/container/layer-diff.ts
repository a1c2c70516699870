import { closeSync, createReadStream, fstatSync, openSync, type Stats } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createRequire } from 'node:module';

type Headers = Parameters<ReturnType<typeof pack>['entry']>[0];
import { CoracleError, isErrno } from '../errors.js';
import { fgetxattr, O_DIRECTORY, O_NOCTTY, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, openat, readlinkat } from '../util/at-syscalls.js';
import { lstatAt, openRegularAt } from '../util/in-root.js';

/** tar-stream is loaded at the first tarball made (a commit, an export), not at start; it is CommonJS. */
const pack = (): ReturnType<typeof import('tar-stream').pack> => (createRequire(import.meta.url)('tar-stream') as typeof import('tar-stream')).pack();

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
/** Directory levels a commit descends: the walk holds one fd per level. */
const MAX_COMMIT_DEPTH = 256;

/** overlayfs marks a directory that hides the lower ones with this xattr. */
function isOpaque(fd: number): boolean {
  try {
    return fgetxattr(fd, 'trusted.overlay.opaque').toString() === 'y';
  } catch {
    return false;
  }
}

const gone = (err: unknown): boolean => isErrno(err, 'ENOENT') || isErrno(err, 'ELOOP') || isErrno(err, 'ENOTDIR');

/**
 * The directory `name` in `dirFd` opened without following a symlink (O_DIRECTORY: anything
 * else is refused before it is opened), with what it is now; undefined if it went or changed
 * kind since it was listed (the container may be running).
 */
function openDir(dirFd: number, name: string): { fd: number; st: Stats } | undefined {
  let fd: number;
  try {
    fd = openat(dirFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  } catch (err) {
    if (gone(err)) return undefined;
    throw err;
  }
  return { fd, st: fstatSync(fd) };
}

/** The regular file `name` opened for reading; undefined if it went or is no longer one. */
function openFile(dirFd: number, name: string): { fd: number; st: Stats } | undefined {
  try {
    const { fd, st } = openRegularAt(dirFd, name);
    return fd === undefined ? undefined : { fd, st };
  } catch (err) {
    if (gone(err)) return undefined;
    throw err;
  }
}

/**
 * A container's changes as an OCI layer: its overlay upper dir as an uncompressed tar, with
 * overlayfs' whiteouts (0/0 character devices) turned back into `.wh.` files and opaque
 * directories into `.wh..wh..opq` (the reverse of what unpacking did). Hard links within
 * the layer stay links. Extended attributes are not carried (not yet).
 *
 * The upper dir belongs to a container that may be running and changing it: every entry is
 * opened by name in its directory's fd with O_NOFOLLOW, a file first with O_PATH and only
 * reopened for reading once fstat says it is regular; its kind and size are taken from the
 * fd, so a swap for a symlink, a FIFO or a device node can neither send the walk out of the
 * tree, block it, nor make the daemon open a device. At most the size seen is read. A tree
 * deeper than MAX_COMMIT_DEPTH is refused (the walk holds an fd per level).
 */
export function upperDirTar(upper: string): AsyncIterable<Buffer> {
  return treeTar(async (t) => {
    let fd: number;
    try {
      fd = openSync(upper, O_RDONLY | O_DIRECTORY);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    try {
      await t.walk(fd);
    } finally {
      closeSync(fd);
    }
  });
}

/** What treeTar's `work` puts in the tar: all a directory holds, or one entry of it (with all under it). */
export interface TreeTar {
  walk(dirFd: number): Promise<void>;
  entry(dirFd: number, name: string): Promise<void>;
}

/**
 * A tar of what `work` adds, each entry read as upperDirTar reads them (by name in its
 * directory's fd, O_NOFOLLOW, kind and size from the fd): the walk of a container's root
 * for `cp` too (src/container/container-copy.ts).
 */
export function treeTar(work: (t: TreeTar) => Promise<void>): AsyncIterable<Buffer> {
  const tar = pack();
  const linked = new Map<string, string>();
  const add = (h: Headers, fd?: number): Promise<void> =>
    new Promise((resolve, reject) => {
      if (fd === undefined || h.size === 0) {
        if (fd !== undefined) closeSync(fd);
        // A file entry (a whiteout) waits for its bytes: it gets none, explicitly.
        if (h.type === 'file') tar.entry(h, Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
        else tar.entry(h, (err) => (err ? reject(err) : resolve()));
        return;
      }
      const entry = tar.entry(h, (err) => (err ? reject(err) : resolve()));
      pipeline(createReadStream('', { fd, start: 0, end: h.size! - 1 }), entry).catch(reject);
    });
  const walk = async (dirFd: number, rel: string, depth: number): Promise<void> => {
    const names = (await readdir(`/proc/self/fd/${dirFd}`)).sort();
    for (const name of names) await entry(dirFd, name, rel ? `${rel}/${name}` : name, rel, depth);
  };
  // The entry `name` of `dirFd`, as `at` in the tar (`rel` its directory there).
  const entry = async (dirFd: number, name: string, at: string, rel: string, depth: number): Promise<void> => {
    const seen = lstatAt(dirFd, name);
    if (!seen) return;
    const base = (st: Stats): Headers => ({ name: at, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime });
    const kind = seen.mode & S_IFMT;
    if (kind === S_IFCHR && seen.rdev === 0) {
      await add({ ...base(seen), name: rel ? `${rel}/.wh.${name}` : `.wh.${name}`, type: 'file', size: 0 });
    } else if (seen.isDirectory()) {
      if (depth >= MAX_COMMIT_DEPTH) {
        throw new CoracleError('FAILED_PRECONDITION', `upper dir: "${at}": deeper than ${MAX_COMMIT_DEPTH} directory levels`);
      }
      const dir = openDir(dirFd, name);
      if (!dir) return;
      try {
        await add({ ...base(dir.st), type: 'directory' });
        if (isOpaque(dir.fd)) await add({ ...base(dir.st), name: `${at}/.wh..wh..opq`, type: 'file', size: 0 });
        await walk(dir.fd, at, depth + 1);
      } finally {
        closeSync(dir.fd);
      }
    } else if (seen.isSymbolicLink()) {
      let target: string;
      try {
        target = readlinkat(dirFd, name);
      } catch {
        return;
      }
      await add({ ...base(seen), type: 'symlink', linkname: target });
    } else if (seen.isFile()) {
      const file = openFile(dirFd, name);
      if (!file) return;
      const st = file.st;
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? linked.get(key) : undefined;
      if (first !== undefined) {
        closeSync(file.fd);
        await add({ ...base(st), type: 'link', linkname: first });
      } else {
        if (st.nlink > 1) linked.set(key, at);
        await add({ ...base(st), type: 'file', size: st.size }, file.fd);
      }
    } else if (kind === S_IFCHR || kind === S_IFBLK) {
      await add({ ...base(seen), type: kind === S_IFCHR ? 'character-device' : 'block-device', devmajor: Math.floor(seen.rdev / 256) & 0xfff, devminor: (seen.rdev & 0xff) | ((seen.rdev >> 12) & 0xfff00) });
    } else if (kind === S_IFIFO) {
      await add({ ...base(seen), type: 'fifo' });
    }
    // Sockets are not carried in layers.
  };
  work({ walk: (fd) => walk(fd, '', 0), entry: (fd, name) => entry(fd, name, name, '', 0) }).then(
    () => tar.finalize(),
    (err: unknown) => tar.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  return (async function* () {
    for await (const chunk of tar) yield chunk as Buffer;
  })();
}
