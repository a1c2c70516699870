import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import {
  chmod,
  copyFile,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  readlink,
  rm,
  symlink,
  utimes,
} from 'node:fs/promises';
import { posix } from 'node:path';
import { createGunzip } from 'node:zlib';
import { lsetxattr, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from '../util/fs-syscalls.js';
import { readTar, type TarHeader } from './tar-reader.js';

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
}

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

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Sniffs the compression from the blob's first bytes: media types are not always right. */
async function decompressed(blob: string): Promise<AsyncIterable<Buffer>> {
  const fh = await open(blob, 'r');
  const head = Buffer.alloc(4);
  try {
    await fh.read(head, 0, 4, 0);
  } finally {
    await fh.close();
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
  ) {}

  private abs(rel: string, root = this.root): string {
    return rel === '' ? root : posix.join(root, rel);
  }

  /**
   * Resolves `rel` inside `root` as if `root` were `/`: symlinks are followed (absolute ones
   * from the root, `..` stops at it), all but the last component unless `followLast`.
   * Returns the resolved relative path.
   */
  async resolve(rel: string, followLast: boolean, root = this.root): Promise<string> {
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
      const st = await lstatOrUndefined(this.abs(candidate, root));
      if (st?.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) throw new LayerError(`"${rel}": too many levels of symbolic links`);
        const target = await readlink(this.abs(candidate, root));
        if (target.startsWith('/')) done.length = 0;
        pending.unshift(...target.split('/'));
        continue;
      }
      done.push(part);
    }
    return done.join('/');
  }

  /** The parent directory of an entry, made (0755, root) where missing; resolved inside. */
  private async parentDir(rel: string): Promise<string> {
    const dir = posix.dirname(rel);
    return this.ensureDir(dir === '.' ? '' : dir);
  }

  private async ensureDir(rel: string): Promise<string> {
    if (this.dirs.has(rel)) return rel;
    const resolved = await this.resolve(rel, true);
    if (this.dirs.has(resolved)) return resolved;
    const parts = resolved === '' ? [] : resolved.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join('/');
      if (this.dirs.has(sub)) continue;
      const st = await lstatOrUndefined(this.abs(sub));
      if (!st) {
        await mkdir(this.abs(sub), { mode: 0o755 });
        this.result.inodes++;
      } else if (!st.isDirectory()) {
        throw new LayerError(`"${rel}": ${sub} is not a directory`);
      }
      this.dirs.add(sub);
    }
    return resolved;
  }

  /** Makes room for a new entry at `rel`: whatever is there goes, unless both are dirs. */
  private async clear(rel: string, keepDir: boolean): Promise<boolean> {
    const st = await lstatOrUndefined(this.abs(rel));
    if (!st) return false;
    if (st.isDirectory() && keepDir) return true;
    await rm(this.abs(rel), { recursive: true, force: true });
    for (const d of this.dirs) if (d === rel || d.startsWith(`${rel}/`)) this.dirs.delete(d);
    return false;
  }

  async entry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const rel = cleanEntryPath(h.name);
    const base = posix.basename(rel);
    if (base === OPAQUE) {
      const dir = await this.ensureDir(posix.dirname(rel) === '.' ? '' : posix.dirname(rel));
      lsetxattr(this.abs(dir), 'trusted.overlay.opaque', Buffer.from('y'));
      return;
    }
    if (base.startsWith(WHITEOUT)) {
      const name = base.slice(WHITEOUT.length);
      if (name === '' || name === '.' || name === '..') throw new LayerError(`entry "${h.name}": bad whiteout`);
      const path = posix.join(await this.parentDir(rel), name);
      await this.clear(path, false);
      mknod(this.abs(path), S_IFCHR, 0, 0);
      this.result.inodes++;
      return;
    }
    if (rel === '') {
      // The layer's own root ("./"): only its metadata applies.
      if (h.type !== 'dir') throw new LayerError(`entry "${h.name}": the root is not a directory`);
      await this.attributes('', h);
      return;
    }
    const path = posix.join(await this.parentDir(rel), base);
    const abs = this.abs(path);
    switch (h.type) {
      case 'dir': {
        if (!(await this.clear(path, true))) {
          await mkdir(abs, { mode: 0o700 });
          this.result.inodes++;
        }
        this.dirs.add(path);
        break;
      }
      case 'file': {
        await this.clear(path, false);
        const fh = await open(abs, 'wx', 0o600);
        try {
          for await (const chunk of body) {
            await fh.write(chunk);
            this.result.bytes += chunk.length;
          }
        } finally {
          await fh.close();
        }
        this.result.inodes++;
        break;
      }
      case 'symlink':
        await this.clear(path, false);
        await symlink(h.linkname, abs);
        this.result.inodes++;
        break;
      case 'hardlink': {
        const target = await this.linkTarget(h);
        await this.clear(path, false);
        await link(this.abs(target), abs);
        // A hardlink shares its target's inode: its attributes are the target's.
        return;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        await this.clear(path, false);
        const kind = h.type === 'char' ? S_IFCHR : h.type === 'block' ? S_IFBLK : S_IFIFO;
        mknod(abs, kind | (h.mode & 0o777), h.devmajor, h.devminor);
        this.result.inodes++;
        break;
      }
    }
    await this.attributes(path, h);
  }

  /** A hardlink's target, inside this layer; one in a lower layer is copied up first. */
  private async linkTarget(h: TarHeader): Promise<string> {
    const rel = cleanEntryPath(h.linkname);
    const parent = await this.resolve(posix.dirname(rel) === '.' ? '' : posix.dirname(rel), true);
    const target = posix.join(parent, posix.basename(rel));
    const st = await lstatOrUndefined(this.abs(target));
    if (st) {
      if (st.isDirectory()) throw new LayerError(`entry "${h.name}": hardlink to a directory`);
      return target;
    }
    for (const lower of this.parents) {
      const inLower = await this.resolve(rel, false, lower);
      const lst = await lstatOrUndefined(this.abs(inLower, lower));
      if (!lst) continue;
      if (!lst.isFile()) throw new LayerError(`entry "${h.name}": hardlink to a non-file in a lower layer`);
      const dest = posix.join(await this.ensureDir(posix.dirname(inLower) === '.' ? '' : posix.dirname(inLower)), posix.basename(inLower));
      await copyFile(this.abs(inLower, lower), this.abs(dest));
      await lchown(this.abs(dest), lst.uid, lst.gid);
      await chmod(this.abs(dest), lst.mode & 0o7777);
      await utimes(this.abs(dest), lst.atime, lst.mtime);
      this.result.inodes++;
      return dest;
    }
    throw new LayerError(`entry "${h.name}": hardlink target "${h.linkname}" not found`);
  }

  private async attributes(path: string, h: TarHeader): Promise<void> {
    const abs = this.abs(path);
    await lchown(abs, h.uid, h.gid);
    // After chown, which clears setuid/setgid bits.
    if (h.type !== 'symlink') await chmod(abs, h.mode & 0o7777);
    for (const [name, value] of h.xattrs) {
      try {
        lsetxattr(abs, name, value);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOTSUP') throw err;
        this.result.warnings.push(`${path}: xattr ${name} not supported here`);
      }
    }
    if (h.type === 'dir') this.dirTimes.push({ path: abs, mtime: h.mtime });
    else if (h.type === 'symlink') await lutimes(abs, h.mtime, h.mtime);
    else await utimes(abs, h.mtime, h.mtime);
  }

  /** Directory mtimes last: writing their entries moved them. */
  async finish(): Promise<void> {
    for (const { path, mtime } of this.dirTimes.reverse()) await utimes(path, mtime, mtime);
  }
}

export async function unpackLayer(req: UnpackRequest): Promise<UnpackResult> {
  const hash = createHash('sha256');
  const writer = new LayerWriter(req.target, req.parents);
  for await (const { header, body } of readTar(hashing(await decompressed(req.blob), hash))) {
    try {
      await writer.entry(header, body);
    } catch (err) {
      if (err instanceof LayerError) throw err;
      throw new LayerError(`entry "${header.name}": ${(err as Error).message}`);
    }
  }
  await writer.finish();
  return { diffId: `sha256:${hash.digest('hex')}`, ...writer.result };
}
