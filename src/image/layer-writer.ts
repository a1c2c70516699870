import { closeSync, fchmodSync, fchownSync, fstatSync, futimesSync, openSync, writeSync } from 'node:fs';
import {
  fsetxattr,
  lchmodat,
  lchownat,
  linkat,
  lutimesat,
  mkdirat,
  mknodat,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOFOLLOW,
  O_RDONLY,
  O_WRONLY,
  openat,
  symlinkat,
} from '../util/at-syscalls.js';
import { lsetxattr, S_IFBLK, S_IFCHR, S_IFIFO } from '../util/fs-syscalls.js';
import { isErrno } from '../errors.js';
import { lstatAt, openInRoot, removeAt, walkInRoot } from '../util/in-root.js';
import type { TarHeader } from './tar-reader.js';
import { copyUp, hidesBelow, type LinkTarget } from './copy-up.js';
import { CreationDefaults, creatorIds, type CreatorIds } from './creation-defaults.js';
import { cleanEntryPath, splitEntryPath } from './entry-path.js';
import { LayerError } from './layer-error.js';

// This runs in a worker thread (unpack-worker.ts): the file calls are synchronous on purpose. A layer is
// thousands of small files at ~7 calls each, and a promise per call (a libuv round trip) was most of the unpack time.
// So is a small file's whole entry, when the tar reader has its data at hand: no await between its calls.

/** The message of an unpack that must wait for its lower layers. */
export const NEEDS_LOWER_LAYERS = 'needs its lower layers';

const OPAQUE = '.wh..wh..opq';
const WHITEOUT = '.wh.';
/** overlayfs obeys these (redirects, metacopy, opaque): a layer must not set them itself. */
const OVERLAY_XATTR = 'trusted.overlay.';
/** Directory fds kept open for the entries that follow (tar order is mostly depth-first). */
const DIR_CACHE = 64;

/** The daemon's ids and umask, read once per worker (creation-defaults.ts). */
let creator: CreatorIds | undefined;
const NO_BYTES = Buffer.alloc(0);

function why(err: unknown): string {
  if (isErrno(err, 'ELOOP')) return 'too many levels of symbolic links';
  if (isErrno(err, 'ENOTDIR')) return 'not a directory';
  return (err as Error).message;
}

/**
 * Writes a layer's tar entries into its directory (unpack.ts reads them): OCI whiteouts
 * become overlay ones, and owners, modes, mtimes, xattrs, links and device nodes are kept,
 * nothing written outside the directory (unpack.ts says how).
 */
export class LayerWriter {
  private readonly rootFd: number;
  /** Directory fds by the entry path that named them; all dropped once anything is removed. */
  private readonly dirFds = new Map<string, number>();
  private readonly lowerFds = new Map<string, number>();
  /** fds opened for one entry only, closed after it. */
  private readonly scratch: number[] = [];
  /** Whether a removal may have changed what a cached path resolves to. */
  private stale = false;
  /** Hardlink targets in this layer's cached directories, by path (linkTarget). */
  private readonly linkTargets = new Map<string, LinkTarget>();
  private readonly dirTimes = new Map<string, { dev: number; ino: number; mtime: number }>();
  readonly result = { bytes: 0, inodes: 0, warnings: [] as string[] };
  private readonly defaults: CreationDefaults;

  constructor(
    root: string,
    private readonly parents: string[],
    private readonly lowerComplete: boolean,
  ) {
    this.rootFd = openSync(root, O_RDONLY | O_DIRECTORY);
    this.defaults = new CreationDefaults(this.rootFd, (creator ??= creatorIds()));
  }

  close(): void {
    this.forget();
    for (const fd of [...this.scratch, ...this.lowerFds.values(), this.rootFd]) closeSync(fd);
    this.scratch.length = 0;
    this.lowerFds.clear();
  }

  /**
   * Drops the cached directory fds. The entry being written may still hold some: they are
   * closed after it, never under it (a number closed and reused would be another dir).
   */
  private forget(): void {
    this.scratch.push(...this.dirFds.values());
    this.dirFds.clear();
    this.linkTargets.clear();
    this.defaults.dirsChanged();
    this.stale = false;
  }

  /** The directory at `rel`, resolved inside the layer; missing ones are made (0755, root). */
  private dir(rel: string): number {
    if (rel === '') return this.rootFd;
    let fd = this.dirFds.get(rel);
    if (fd !== undefined) return fd;
    try {
      fd = openInRoot(this.rootFd, rel, O_RDONLY | O_DIRECTORY);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw new LayerError(`"${rel}": ${why(err)}`);
      try {
        fd = walkInRoot(this.rootFd, rel, { flags: O_RDONLY | O_DIRECTORY, mkdir: true, onMkdir: () => this.result.inodes++ }).fd;
      } catch (e) {
        throw new LayerError(`"${rel}": ${why(e)}`);
      }
    }
    if (this.dirFds.size >= DIR_CACHE) this.forget();
    this.dirFds.set(rel, fd);
    return fd;
  }

  /** Makes `name` in `dirFd` with `make`; whatever was there is removed first (EEXIST). */
  private create(dirFd: number, name: string, make: () => void): void {
    try {
      make();
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      removeAt(dirFd, name);
      this.stale = true;
      make();
    }
    this.result.inodes++;
  }

  /**
   * Writes one entry: without awaiting anything (undefined) unless it is a file whose data
   * must still be read (a promise). `data`: the file's data, when the tar reader had it whole.
   */
  entry(h: TarHeader, body: AsyncIterable<Buffer>, data?: Buffer): Promise<void> | undefined {
    let pending: Promise<void> | undefined;
    try {
      pending = this.write(h, body, data);
    } finally {
      if (!pending) this.entryDone();
    }
    return pending?.finally(() => this.entryDone());
  }

  private entryDone(): void {
    if (this.stale) this.forget();
    for (const fd of this.scratch) closeSync(fd);
    this.scratch.length = 0;
  }

  private write(h: TarHeader, body: AsyncIterable<Buffer>, data: Buffer | undefined): Promise<void> | undefined {
    const rel = cleanEntryPath(h.name);
    const { dir: dirRel, base } = splitEntryPath(rel);
    for (const name of h.xattrs.keys()) {
      if (name.startsWith(OVERLAY_XATTR)) throw new LayerError(`entry "${h.name}": xattr ${name} is refused: overlayfs would act on it`);
    }
    if (base === OPAQUE) {
      fsetxattr(this.dir(dirRel), 'trusted.overlay.opaque', Buffer.from('y'));
      return undefined;
    }
    if (base.startsWith(WHITEOUT)) {
      const name = base.slice(WHITEOUT.length);
      if (name === '' || name === '.' || name === '..') throw new LayerError(`entry "${h.name}": bad whiteout`);
      const dirFd = this.dir(dirRel);
      this.create(dirFd, name, () => mknodat(dirFd, name, S_IFCHR, 0, 0));
      return undefined;
    }
    if (rel === '') {
      // The layer's own root ("./"): only its metadata applies.
      if (h.type !== 'dir') throw new LayerError(`entry "${h.name}": the root is not a directory`);
      this.dirAttributes(this.rootFd, '', h);
      return undefined;
    }
    const dirFd = this.dir(dirRel);
    switch (h.type) {
      case 'dir':
        this.directory(dirFd, base, rel, h);
        return undefined;
      case 'file':
        return this.file(dirFd, dirRel, base, h, h.size === 0 ? NO_BYTES : data, body);
      case 'symlink':
        this.create(dirFd, base, () => symlinkat(h.linkname, dirFd, base));
        this.nodeAttributes(dirFd, base, h, false);
        return undefined;
      case 'hardlink': {
        const target = this.linkTarget(h);
        this.create(dirFd, base, () => linkat(target.dirFd, target.name, dirFd, base));
        // A hardlink shares its target's inode: its attributes are the target's.
        this.result.inodes--;
        return undefined;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        const kind = h.type === 'char' ? S_IFCHR : h.type === 'block' ? S_IFBLK : S_IFIFO;
        this.create(dirFd, base, () => mknodat(dirFd, base, kind | (h.mode & 0o777), h.devmajor, h.devminor));
        this.nodeAttributes(dirFd, base, h, true);
        return undefined;
      }
    }
  }

  private directory(dirFd: number, name: string, rel: string, h: TarHeader): void {
    try {
      mkdirat(dirFd, name, 0o700);
      this.result.inodes++;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      // A directory already there stays (with what it holds); anything else goes.
      if (!lstatAt(dirFd, name)?.isDirectory()) this.create(dirFd, name, () => mkdirat(dirFd, name, 0o700));
    }
    const fd = openat(dirFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    try {
      this.dirAttributes(fd, rel, h);
    } finally {
      closeSync(fd);
    }
  }

  private dirAttributes(fd: number, rel: string, h: TarHeader): void {
    fchownSync(fd, h.uid, h.gid);
    // After chown, which clears setuid/setgid bits.
    fchmodSync(fd, h.mode & 0o7777);
    this.defaults.dirsChanged();
    this.setXattrs(rel, h, (name, value) => fsetxattr(fd, name, value));
    const st = fstatSync(fd);
    this.dirTimes.set(rel, { dev: st.dev, ino: st.ino, mtime: h.mtime });
  }

  /** A regular file: written from `data` at once when it is given, else as `body` comes. */
  private file(dirFd: number, dirRel: string, name: string, h: TarHeader, data: Buffer | undefined, body: AsyncIterable<Buffer>): Promise<void> | undefined {
    let fd = -1;
    const open = this.defaults.openMode(h.mode);
    this.create(dirFd, name, () => {
      fd = openat(dirFd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, open.mode);
    });
    const finish = (): void => {
      if (!this.defaults.owns(dirRel, dirFd, h.uid, h.gid)) fchownSync(fd, h.uid, h.gid);
      // After chown, which clears setuid/setgid bits.
      if (!open.exact) fchmodSync(fd, h.mode & 0o7777);
      this.setXattrs(name, h, (x, value) => fsetxattr(fd, x, value));
      futimesSync(fd, h.mtime, h.mtime);
    };
    if (data) {
      try {
        this.writeData(fd, data);
        finish();
      } finally {
        closeSync(fd);
      }
      return undefined;
    }
    return (async () => {
      try {
        for await (const chunk of body) this.writeData(fd, chunk);
        finish();
      } finally {
        closeSync(fd);
      }
    })();
  }

  private writeData(fd: number, chunk: Buffer): void {
    for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
    this.result.bytes += chunk.length;
  }

  /** Symlinks and device nodes: set by name, never through the link. */
  private nodeAttributes(dirFd: number, name: string, h: TarHeader, withMode: boolean): void {
    lchownat(dirFd, name, h.uid, h.gid);
    if (withMode) lchmodat(dirFd, name, h.mode & 0o7777);
    // lsetxattr through the fd's /proc link: the directory held, `name` not followed.
    this.setXattrs(name, h, (x, value) => lsetxattr(`/proc/self/fd/${dirFd}/${name}`, x, value), true);
    lutimesat(dirFd, name, h.mtime);
  }

  /** `node`: a symlink or device, where the kernel refuses user.* xattrs with EPERM. */
  private setXattrs(path: string, h: TarHeader, set: (name: string, value: Buffer) => void, node = false): void {
    for (const [name, value] of h.xattrs) {
      this.defaults.xattrSet(name);
      try {
        set(name, value);
      } catch (err) {
        const code = isErrno(err) ? err.code : undefined;
        const refusedOnNode = node && code === 'EPERM' && name.startsWith('user.');
        if (code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && !refusedOnNode) throw err;
        this.result.warnings.push(`${path}: xattr ${name} ${refusedOnNode ? 'refused by the kernel on a symlink or device' : 'not supported here'}`);
      }
    }
  }

  /** A hardlink's target, inside this layer; one in a lower layer is copied up first. */
  private linkTarget(h: TarHeader): LinkTarget {
    const rel = cleanEntryPath(h.linkname);
    if (rel === '') throw new LayerError(`entry "${h.name}": hardlink to a directory`);
    // Most targets are files this layer has just written, in a cached directory (a busybox
    // layer's 400 links to bin/[): found once, kept until a removal drops the cache with them.
    const known = this.linkTargets.get(rel);
    if (known) return known;
    const { dir: dirRel, base: name } = splitEntryPath(rel);
    let dirFd = dirRel === '' ? this.rootFd : this.dirFds.get(dirRel);
    const cached = dirFd !== undefined;
    if (dirFd === undefined) {
      try {
        dirFd = openInRoot(this.rootFd, dirRel, O_RDONLY | O_DIRECTORY);
        this.scratch.push(dirFd);
      } catch (err) {
        if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
      }
    }
    const here = dirFd === undefined ? undefined : lstatAt(dirFd, name);
    const notFound = (): LayerError => new LayerError(`entry "${h.name}": hardlink target "${h.linkname}" not found`);
    if (here) {
      if (here.isDirectory()) throw new LayerError(`entry "${h.name}": hardlink to a directory`);
      if (here.isCharacterDevice() && here.rdev === 0) throw notFound(); // whited out here
      if (cached) this.linkTargets.set(rel, { dirFd: dirFd!, name });
      return { dirFd: dirFd!, name };
    }
    // Nearest layer first; one that whites the name out or hides a parent ends the search.
    if (hidesBelow(this.rootFd, rel)) throw notFound();
    for (const lower of this.parents) {
      const up = this.copyUp(h, rel, lower);
      if (up === 'hidden') throw notFound();
      if (up) return up;
    }
    if (!this.lowerComplete) throw new LayerError(NEEDS_LOWER_LAYERS);
    throw notFound();
  }

  private copyUp(h: TarHeader, rel: string, lower: string): LinkTarget | 'hidden' | undefined {
    let lowerFd = this.lowerFds.get(lower);
    if (lowerFd === undefined) {
      lowerFd = openSync(lower, O_RDONLY | O_DIRECTORY);
      this.lowerFds.set(lower, lowerFd);
    }
    const up = copyUp(lowerFd, rel, (dir) => this.dir(dir), this.scratch);
    if (up === 'not-a-file') throw new LayerError(`entry "${h.name}": hardlink to a non-file in a lower layer`);
    if (up === 'a-directory') throw new LayerError(`entry "${h.name}": hardlink to a directory`);
    if (typeof up === 'object' && up.copied) this.result.inodes++;
    return up;
  }

  /**
   * Directory mtimes last: writing their entries moved them. Each is found again inside the
   * layer, not following a last symlink, and only if it is still the same directory.
   */
  finish(): void {
    for (const [rel, { dev, ino, mtime }] of this.dirTimes) {
      let fd: number;
      try {
        fd = rel === '' ? openat(this.rootFd, '.', O_RDONLY | O_DIRECTORY) : openInRoot(this.rootFd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      } catch {
        continue; // replaced by a symlink or a file, or whited out: nothing to date
      }
      try {
        const st = fstatSync(fd);
        if (st.dev === dev && st.ino === ino) futimesSync(fd, mtime, mtime);
      } finally {
        closeSync(fd);
      }
    }
  }
}
