import { createHash } from 'node:crypto';
import {
  chmodSync as chmod,
  closeSync,
  copyFileSync as copyFile,
  createReadStream,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync as lchown,
  linkSync as link,
  lstatSync,
  lutimesSync as lutimes,
  mkdirSync as mkdir,
  openSync,
  readlinkSync as readlink,
  readSync,
  rmSync as rm,
  symlinkSync as symlink,
  utimesSync as utimes,
  writeSync,
  type Stats,
} from 'node:fs';
import { posix } from 'node:path';
import { createGunzip } from 'node:zlib';
import { lsetxattr, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from '../util/fs-syscalls.js';
import { readTar, type TarHeader } from './tar-reader.js';

/*
 * This runs in a worker thread (unpack-worker.ts): the file calls are synchronous on
 * purpose. A layer is thousands of small files at ~7 calls each, and a promise per call
 * (a libuv thread-pool round trip) was most of the unpack time.
 */

/**
 * Unpacks one image layer into its own directory, ready to be an overlayfs lower dir: OCI
 * whiteouts become overlay ones (`.wh.NAME` → a 0/0 character device, `.wh..wh..opq` →
 * trusted.overlay.opaque=y), and owners, modes (setuid, sticky), mtimes, xattrs, links and
 * device nodes are kept. Nothing is ever written outside `target`: paths are cleaned, and
 * every parent is resolved inside the layer the way a chroot would resolve it, so `..`,
 * absolute and chained symlinks and hardlinks pointing out all stay in (or are refused).
 */

export interface UnpackRequest {
  /** The layer blob in the content store. */
  blob: string;
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

const MAX_SYMLINKS = 40;
const OPAQUE = '.wh..wh..opq';
const WHITEOUT = '.wh.';

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

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Sniffs the compression from the blob's first bytes: media types are not always right. */
function decompressed(blob: string): AsyncIterable<Buffer> {
  const fd = openSync(blob, 'r');
  const head = Buffer.alloc(4);
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  const raw = createReadStream(blob, { highWaterMark: 1 << 20 });
  if (head[0] === 0x1f && head[1] === 0x8b) return raw.pipe(createGunzip({ chunkSize: 1 << 17 }));
  if (head.readUInt32LE(0) === 0xfd2fb528) {
    raw.destroy();
    throw new LayerError('zstd-compressed layers are not supported yet');
  }
  return raw;
}

async function* hashing(source: AsyncIterable<Buffer>, hash: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    hash.update(chunk);
    yield chunk;
  }
}

class LayerWriter {
  /** Relative paths known to be real directories (not symlinks) in this layer. */
  private readonly dirs = new Set<string>(['']);
  private readonly dirTimes: { path: string; mtime: number }[] = [];
  readonly result = { bytes: 0, inodes: 0, warnings: [] as string[] };

  constructor(
    private readonly root: string,
    private readonly parents: string[],
    private readonly lowerComplete: boolean,
  ) {}

  private abs(rel: string, root = this.root): string {
    return rel === '' ? root : posix.join(root, rel);
  }

  /**
   * Resolves `rel` inside `root` as if `root` were `/`: symlinks are followed (absolute ones
   * from the root, `..` stops at it), all but the last component unless `followLast`.
   * Returns the resolved relative path.
   */
  resolve(rel: string, followLast: boolean, root = this.root): string {
    const pending = rel === '' ? [] : rel.split('/');
    const done: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        done.pop();
        continue;
      }
      const candidate = [...done, part].join('/');
      const isLast = pending.length === 0;
      if ((isLast && !followLast) || (root === this.root && this.dirs.has(candidate))) {
        done.push(part);
        continue;
      }
      const st = lstatOrUndefined(this.abs(candidate, root));
      if (st?.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) throw new LayerError(`"${rel}": too many levels of symbolic links`);
        const target = readlink(this.abs(candidate, root));
        if (target.startsWith('/')) done.length = 0;
        pending.unshift(...target.split('/'));
        continue;
      }
      done.push(part);
    }
    return done.join('/');
  }

  /** The parent directory of an entry, made (0755, root) where missing; resolved inside. */
  private parentDir(rel: string): string {
    const dir = posix.dirname(rel);
    return this.ensureDir(dir === '.' ? '' : dir);
  }

  private ensureDir(rel: string): string {
    if (this.dirs.has(rel)) return rel;
    const resolved = this.resolve(rel, true);
    if (this.dirs.has(resolved)) return resolved;
    const parts = resolved === '' ? [] : resolved.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join('/');
      if (this.dirs.has(sub)) continue;
      const st = lstatOrUndefined(this.abs(sub));
      if (!st) {
        mkdir(this.abs(sub), { mode: 0o755 });
        this.result.inodes++;
      } else if (!st.isDirectory()) {
        throw new LayerError(`"${rel}": ${sub} is not a directory`);
      }
      this.dirs.add(sub);
    }
    return resolved;
  }

  /** Makes room for a new entry at `rel`: whatever is there goes, unless both are dirs. */
  private clear(rel: string, keepDir: boolean): boolean {
    const st = lstatOrUndefined(this.abs(rel));
    if (!st) return false;
    if (st.isDirectory() && keepDir) return true;
    rm(this.abs(rel), { recursive: true, force: true });
    for (const d of this.dirs) if (d === rel || d.startsWith(`${rel}/`)) this.dirs.delete(d);
    return false;
  }

  async entry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const rel = cleanEntryPath(h.name);
    const base = posix.basename(rel);
    if (base === OPAQUE) {
      const dir = this.ensureDir(posix.dirname(rel) === '.' ? '' : posix.dirname(rel));
      lsetxattr(this.abs(dir), 'trusted.overlay.opaque', Buffer.from('y'));
      return;
    }
    if (base.startsWith(WHITEOUT)) {
      const name = base.slice(WHITEOUT.length);
      if (name === '' || name === '.' || name === '..') throw new LayerError(`entry "${h.name}": bad whiteout`);
      const path = posix.join(this.parentDir(rel), name);
      this.clear(path, false);
      mknod(this.abs(path), S_IFCHR, 0, 0);
      this.result.inodes++;
      return;
    }
    if (rel === '') {
      // The layer's own root ("./"): only its metadata applies.
      if (h.type !== 'dir') throw new LayerError(`entry "${h.name}": the root is not a directory`);
      this.attributes('', h);
      return;
    }
    const path = posix.join(this.parentDir(rel), base);
    const abs = this.abs(path);
    switch (h.type) {
      case 'dir': {
        if (!this.clear(path, true)) {
          mkdir(abs, { mode: 0o700 });
          this.result.inodes++;
        }
        this.dirs.add(path);
        break;
      }
      case 'file': {
        this.clear(path, false);
        const fd = openSync(abs, 'wx', 0o600);
        try {
          for await (const chunk of body) {
            for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
            this.result.bytes += chunk.length;
          }
          // Through the open file: three path lookups fewer per file.
          fchownSync(fd, h.uid, h.gid);
          fchmodSync(fd, h.mode & 0o7777);
          this.xattrs(path, h);
          futimesSync(fd, h.mtime, h.mtime);
        } finally {
          closeSync(fd);
        }
        this.result.inodes++;
        return;
      }
      case 'symlink':
        this.clear(path, false);
        symlink(h.linkname, abs);
        this.result.inodes++;
        break;
      case 'hardlink': {
        const target = this.linkTarget(h);
        this.clear(path, false);
        link(this.abs(target), abs);
        // A hardlink shares its target's inode: its attributes are the target's.
        return;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        this.clear(path, false);
        const kind = h.type === 'char' ? S_IFCHR : h.type === 'block' ? S_IFBLK : S_IFIFO;
        mknod(abs, kind | (h.mode & 0o777), h.devmajor, h.devminor);
        this.result.inodes++;
        break;
      }
    }
    this.attributes(path, h);
  }

  /** A hardlink's target, inside this layer; one in a lower layer is copied up first. */
  private linkTarget(h: TarHeader): string {
    const rel = cleanEntryPath(h.linkname);
    const parent = this.resolve(posix.dirname(rel) === '.' ? '' : posix.dirname(rel), true);
    const target = posix.join(parent, posix.basename(rel));
    const st = lstatOrUndefined(this.abs(target));
    if (st) {
      if (st.isDirectory()) throw new LayerError(`entry "${h.name}": hardlink to a directory`);
      return target;
    }
    for (const lower of this.parents) {
      const inLower = this.resolve(rel, false, lower);
      const lst = lstatOrUndefined(this.abs(inLower, lower));
      if (!lst) continue;
      if (!lst.isFile()) throw new LayerError(`entry "${h.name}": hardlink to a non-file in a lower layer`);
      const dest = posix.join(this.ensureDir(posix.dirname(inLower) === '.' ? '' : posix.dirname(inLower)), posix.basename(inLower));
      copyFile(this.abs(inLower, lower), this.abs(dest));
      lchown(this.abs(dest), lst.uid, lst.gid);
      chmod(this.abs(dest), lst.mode & 0o7777);
      utimes(this.abs(dest), lst.atime, lst.mtime);
      this.result.inodes++;
      return dest;
    }
    if (!this.lowerComplete) throw new LayerError(NEEDS_LOWER_LAYERS);
    throw new LayerError(`entry "${h.name}": hardlink target "${h.linkname}" not found`);
  }

  private attributes(path: string, h: TarHeader): void {
    const abs = this.abs(path);
    lchown(abs, h.uid, h.gid);
    // After chown, which clears setuid/setgid bits.
    if (h.type !== 'symlink') chmod(abs, h.mode & 0o7777);
    this.xattrs(path, h);
    if (h.type === 'dir') this.dirTimes.push({ path: abs, mtime: h.mtime });
    else if (h.type === 'symlink') lutimes(abs, h.mtime, h.mtime);
    else utimes(abs, h.mtime, h.mtime);
  }

  private xattrs(path: string, h: TarHeader): void {
    const abs = this.abs(path);
    for (const [name, value] of h.xattrs) {
      try {
        lsetxattr(abs, name, value);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOTSUP') throw err;
        this.result.warnings.push(`${path}: xattr ${name} not supported here`);
      }
    }
  }

  /** Directory mtimes last: writing their entries moved them. */
  finish(): void {
    for (const { path, mtime } of this.dirTimes.reverse()) utimes(path, mtime, mtime);
  }
}

export async function unpackLayer(req: UnpackRequest): Promise<UnpackResult> {
  const hash = createHash('sha256');
  const writer = new LayerWriter(req.target, req.parents, req.lowerComplete);
  for await (const { header, body } of readTar(hashing(decompressed(req.blob), hash))) {
    try {
      await writer.entry(header, body);
    } catch (err) {
      if (err instanceof LayerError) throw err;
      throw new LayerError(`entry "${header.name}": ${(err as Error).message}`);
    }
  }
  writer.finish();
  return { diffId: `sha256:${hash.digest('hex')}`, ...writer.result };
}
