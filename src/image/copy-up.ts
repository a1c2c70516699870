import { closeSync, fchmodSync, fchownSync, fstatSync, futimesSync, openSync, readSync, writeSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import {
  fgetxattr,
  flistxattr,
  fsetxattr,
  lchmodat,
  lchownat,
  lutimesat,
  mknodat,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOCTTY,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_PATH,
  O_RDONLY,
  O_WRONLY,
  openat,
  readlinkat,
  symlinkat,
} from '../util/at-syscalls.js';
import { S_IFIFO } from '../util/fs-syscalls.js';
import { lstatAt, walkInRoot } from '../util/in-root.js';

/** Where a hardlink points: a name in a directory held open. */
export interface LinkTarget {
  dirFd: number;
  name: string;
  /** True when the file was copied up from a lower layer to be there. */
  copied?: boolean;
}

/** overlayfs obeys these: never carried from one layer into another. */
const OVERLAY_XATTR = 'trusted.overlay.';

const isWhiteout = (st: Stats): boolean => st.isCharacterDevice() && st.rdev === 0;

function isOpaque(dirFd: number): boolean {
  try {
    return fgetxattr(dirFd, 'trusted.overlay.opaque').toString() === 'y';
  } catch {
    return false;
  }
}

/**
 * Whether `layerFd` hides `rel` from the layers below it, as overlayfs would: a whiteout (a
 * 0/0 character device) at the name or at any parent, an opaque parent directory, or a parent
 * that is not a directory here (a file, a symlink) all mean the lower layers' `rel` is not
 * seen. The path is taken literally, one directory fd held at a time.
 */
export function hidesBelow(layerFd: number, rel: string): boolean {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  let fd = layerFd;
  try {
    for (let i = 0; i < parts.length; i++) {
      const st = lstatAt(fd, parts[i]!);
      if (!st) return false;
      if (isWhiteout(st)) return true;
      if (i === parts.length - 1) return false;
      if (!st.isDirectory()) return true;
      const sub = openat(fd, parts[i]!, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      if (fd !== layerFd) closeSync(fd);
      fd = sub;
      if (isOpaque(fd)) return true;
    }
    return false;
  } finally {
    if (fd !== layerFd) closeSync(fd);
  }
}

/**
 * A hardlink in a layer to a file only a lower layer has: overlayfs cannot link across
 * layers, so the file is copied into this layer, at the path `rel` resolves to in the lower
 * one (both resolved inside their own layer), and the link made to the copy. If this layer
 * already has something at that path, it hides the lower file and is the target itself.
 * `dirFor` gives this layer's directory for a path (made if missing); fds to close after the
 * entry go to `scratch`. Undefined when the lower layer has nothing at `rel`, 'hidden' when
 * it hides `rel` from the layers below (search no further). Symlinks and FIFOs are copied
 * as themselves (never followed or opened); devices are refused.
 */
export function copyUp(lowerFd: number, rel: string, dirFor: (rel: string) => number, scratch: number[]): LinkTarget | 'not-a-file' | 'a-directory' | 'hidden' | undefined {
  let found;
  try {
    found = walkInRoot(lowerFd, rel, { flags: O_PATH | O_NOFOLLOW });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return hidesBelow(lowerFd, rel) ? 'hidden' : undefined;
    throw err;
  }
  scratch.push(found.fd);
  const st = fstatSync(found.fd);
  if (isWhiteout(st)) return 'hidden';
  if (st.isDirectory()) return 'a-directory';
  if (!st.isFile() && !st.isSymbolicLink() && !st.isFIFO()) return 'not-a-file';
  const dir = posix.dirname(found.path);
  const dirFd = dirFor(dir === '.' ? '' : dir);
  const name = posix.basename(found.path);
  const here = lstatAt(dirFd, name);
  if (here) return here.isDirectory() ? 'a-directory' : { dirFd, name };
  if (st.isSymbolicLink() || st.isFIFO()) {
    // By name in the held directory: the symlink's target is copied as text, never resolved.
    if (st.isSymbolicLink()) symlinkat(readlinkat(found.fd, ''), dirFd, name);
    else mknodat(dirFd, name, S_IFIFO | 0o600);
    lchownat(dirFd, name, st.uid, st.gid);
    if (st.isFIFO()) lchmodat(dirFd, name, st.mode & 0o7777);
    lutimesat(dirFd, name, st.mtimeMs / 1000);
    return { dirFd, name, copied: true };
  }
  // Re-opened through the O_PATH fd: the very file looked at, for reading.
  const src = openSync(`/proc/self/fd/${found.fd}`, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  scratch.push(src);
  const out = openat(dirFd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    const buf = Buffer.allocUnsafe(1 << 17);
    for (let n; (n = readSync(src, buf, 0, buf.length, null)) > 0; ) {
      for (let off = 0; off < n; ) off += writeSync(out, buf, off, n - off);
    }
    fchownSync(out, st.uid, st.gid);
    // After chown, which clears setuid/setgid bits.
    fchmodSync(out, st.mode & 0o7777);
    for (const x of flistxattr(src)) if (!x.startsWith(OVERLAY_XATTR)) fsetxattr(out, x, fgetxattr(src, x));
    futimesSync(out, st.atime, st.mtime);
  } finally {
    closeSync(out);
  }
  return { dirFd, name, copied: true };
}
