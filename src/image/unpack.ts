import { createHash } from 'node:crypto';
import { closeSync, fchmodSync, fchownSync, fstatSync, futimesSync, openSync, writeSync } from 'node:fs';
import { posix } from 'node:path';
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
import { lstatAt, openInRoot, removeAt, walkInRoot } from '../util/in-root.js';
import { blobChunks, blobName, type FollowedBlob } from './blob-chunks.js';
import { decompressed, hashing } from './layer-stream.js';
import { readTar, type TarHeader } from './tar-reader.js';
import { copyUp, hidesBelow, type LinkTarget } from './copy-up.js';

// This runs in a worker thread (unpack-worker.ts): the file calls are synchronous on purpose. A layer is
// thousands of small files at ~7 calls each, and a promise per call (a libuv round trip) was most of the unpack time.

/**
 * Unpacks one image layer into its own directory, ready to be an overlayfs lower dir: OCI
 * whiteouts become overlay ones (`.wh.NAME` → a 0/0 character device, `.wh..wh..opq` →
 * trusted.overlay.opaque=y), and owners, modes (setuid, sticky), mtimes, xattrs, links and
 * device nodes are kept. Nothing is ever written outside `target`: paths are cleaned, every
 * parent is resolved inside the layer as a chroot would (in-root.ts) and held as an fd, and
 * each entry is made in it by name with O_EXCL|O_NOFOLLOW or an *at call that does not
 * follow a symlink (after removing what was there), its owner, mode and times set on the
 * open fd or with AT_SYMLINK_NOFOLLOW. `..`, absolute and chained symlinks and hardlinks
 * pointing out, in this layer or a lower one, all stay in (or are refused).
 */

export interface UnpackRequest {
  /** The layer blob in the content store (with `fd`, the ingest file of one being downloaded). */
  blob: string;
  /** An fd on a blob being downloaded, read as its feed's messages say it grows (blob-feed.ts). */
  fd?: number;
  /** An empty directory to fill. */
  target: string;
  /** Lower layers' directories, nearest first: a hardlink to a file of theirs copies it up. */
  parents: string[];
  /**
   * False when lower layers may still be unpacking (layers are unpacked side by side): a
   * hardlink to a file found nowhere then fails with NEEDS_LOWER_LAYERS, to be tried again
   * once they are done.
   */
  lowerComplete: boolean;
}

/** The message of an unpack that must wait for its lower layers. */
export const NEEDS_LOWER_LAYERS = 'needs its lower layers';

export interface UnpackResult {
  /** sha256 of the uncompressed tar: must equal the image config's diff_id. */
  diffId: string;
  /** Bytes of regular file data written. */
  bytes: number;
  /** Entries created. */
  inodes: number;
  /** xattrs the filesystem would not take (ENOTSUP), kept for the log. */
  warnings: string[];
}

export class LayerError extends Error {}

const OPAQUE = '.wh..wh..opq';
const WHITEOUT = '.wh.';
/** overlayfs obeys these (redirects, metacopy, opaque): a layer must not set them itself. */
const OVERLAY_XATTR = 'trusted.overlay.';
/** Directory fds kept open for the entries that follow (tar order is mostly depth-first). */
const DIR_CACHE = 64;

/** `a/./b/../c/` → `a/c`; a path that climbs out of the root is refused. */
export function cleanEntryPath(name: string): string {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw new LayerError(`entry "${name}": path escapes the layer`);
      parts.pop();
    } else parts.push(part);
  }
  return parts.join('/');
}

const dirOf = (rel: string): string => (posix.dirname(rel) === '.' ? '' : posix.dirname(rel));
const errnoOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

function why(code: string | undefined, err: unknown): string {
  if (code === 'ELOOP') return 'too many levels of symbolic links';
  if (code === 'ENOTDIR') return 'not a directory';
  return (err as Error).message;
}

class LayerWriter {
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

  constructor(
    root: string,
    private readonly parents: string[],
    private readonly lowerComplete: boolean,
  ) {
    this.rootFd = openSync(root, O_RDONLY | O_DIRECTORY);
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
      const code = errnoOf(err);
      if (code !== 'ENOENT') throw new LayerError(`"${rel}": ${why(code, err)}`);
      try {
        fd = walkInRoot(this.rootFd, rel, { flags: O_RDONLY | O_DIRECTORY, mkdir: true, onMkdir: () => this.result.inodes++ }).fd;
      } catch (e) {
        throw new LayerError(`"${rel}": ${why(errnoOf(e), e)}`);
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
      if (errnoOf(err) !== 'EEXIST') throw err;
      removeAt(dirFd, name);
      this.stale = true;
      make();
    }
    this.result.inodes++;
  }

  async entry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    try {
      await this.write(h, body);
    } finally {
      if (this.stale) this.forget();
      for (const fd of this.scratch) closeSync(fd);
      this.scratch.length = 0;
    }
  }

  private async write(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const rel = cleanEntryPath(h.name);
    const base = posix.basename(rel);
    for (const name of h.xattrs.keys()) {
      if (name.startsWith(OVERLAY_XATTR)) throw new LayerError(`entry "${h.name}": xattr ${name} is refused: overlayfs would act on it`);
    }
    if (base === OPAQUE) {
      fsetxattr(this.dir(dirOf(rel)), 'trusted.overlay.opaque', Buffer.from('y'));
      return;
    }
    if (base.startsWith(WHITEOUT)) {
      const name = base.slice(WHITEOUT.length);
      if (name === '' || name === '.' || name === '..') throw new LayerError(`entry "${h.name}": bad whiteout`);
      const dirFd = this.dir(dirOf(rel));
      this.create(dirFd, name, () => mknodat(dirFd, name, S_IFCHR, 0, 0));
      return;
    }
    if (rel === '') {
      // The layer's own root ("./"): only its metadata applies.
      if (h.type !== 'dir') throw new LayerError(`entry "${h.name}": the root is not a directory`);
      this.dirAttributes(this.rootFd, '', h);
      return;
    }
    const dirFd = this.dir(dirOf(rel));
    switch (h.type) {
      case 'dir':
        return this.directory(dirFd, base, rel, h);
      case 'file':
        return this.file(dirFd, base, h, body);
      case 'symlink':
        this.create(dirFd, base, () => symlinkat(h.linkname, dirFd, base));
        return this.nodeAttributes(dirFd, base, h, false);
      case 'hardlink': {
        const target = this.linkTarget(h);
        this.create(dirFd, base, () => linkat(target.dirFd, target.name, dirFd, base));
        // A hardlink shares its target's inode: its attributes are the target's.
        this.result.inodes--;
        return;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        const kind = h.type === 'char' ? S_IFCHR : h.type === 'block' ? S_IFBLK : S_IFIFO;
        this.create(dirFd, base, () => mknodat(dirFd, base, kind | (h.mode & 0o777), h.devmajor, h.devminor));
        return this.nodeAttributes(dirFd, base, h, true);
      }
    }
  }

  private directory(dirFd: number, name: string, rel: string, h: TarHeader): void {
    try {
      mkdirat(dirFd, name, 0o700);
      this.result.inodes++;
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
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
    this.setXattrs(rel, h, (name, value) => fsetxattr(fd, name, value));
    const st = fstatSync(fd);
    this.dirTimes.set(rel, { dev: st.dev, ino: st.ino, mtime: h.mtime });
  }

  private async file(dirFd: number, name: string, h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    let fd = -1;
    this.create(dirFd, name, () => {
      fd = openat(dirFd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    });
    try {
      for await (const chunk of body) {
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
        this.result.bytes += chunk.length;
      }
      fchownSync(fd, h.uid, h.gid);
      fchmodSync(fd, h.mode & 0o7777);
      this.setXattrs(name, h, (x, value) => fsetxattr(fd, x, value));
      futimesSync(fd, h.mtime, h.mtime);
    } finally {
      closeSync(fd);
    }
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
      try {
        set(name, value);
      } catch (err) {
        const code = errnoOf(err);
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
    const name = posix.basename(rel);
    const dirRel = dirOf(rel);
    let dirFd = dirRel === '' ? this.rootFd : this.dirFds.get(dirRel);
    const cached = dirFd !== undefined;
    if (dirFd === undefined) {
      try {
        dirFd = openInRoot(this.rootFd, dirRel, O_RDONLY | O_DIRECTORY);
        this.scratch.push(dirFd);
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT' && errnoOf(err) !== 'ENOTDIR') throw err;
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

export async function unpackLayer(req: UnpackRequest, follow?: FollowedBlob): Promise<UnpackResult> {
  const hash = createHash('sha256');
  const writer = new LayerWriter(req.target, req.parents, req.lowerComplete);
  const source = follow && req.fd !== undefined ? blobChunks(req.fd, follow) : blobChunks(req.blob);
  try {
    for await (const { header, body } of readTar(hashing(decompressed(source), hash))) {
      try {
        await writer.entry(header, body);
      } catch (err) {
        if (err instanceof LayerError) throw err;
        throw new LayerError(`entry "${header.name}": ${(err as Error).message}`);
      }
    }
    writer.finish();
  } catch (err) {
    throw new LayerError(`layer ${blobName(req.blob)}: ${(err as Error).message}`);
  } finally {
    writer.close();
  }
  return { diffId: `sha256:${hash.digest('hex')}`, ...writer.result };
}
