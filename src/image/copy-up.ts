import { closeSync, fchmodSync, fchownSync, fstatSync, futimesSync, openSync, readSync, writeSync } from 'node:fs';
import { posix } from 'node:path';
import { fgetxattr, flistxattr, fsetxattr, O_CREAT, O_EXCL, O_NOCTTY, O_NOFOLLOW, O_NONBLOCK, O_PATH, O_RDONLY, O_WRONLY, openat } from '../util/at-syscalls.js';
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

/**
 * A hardlink in a layer to a file only a lower layer has: overlayfs cannot link across
 * layers, so the file is copied into this layer, at the path `rel` resolves to in the lower
 * one (both resolved inside their own layer), and the link made to the copy. If this layer
 * already has something at that path, it hides the lower file and is the target itself.
 * `dirFor` gives this layer's directory for a path (made if missing); fds to close after the
 * entry go to `scratch`. Undefined when the lower layer has nothing at `rel`.
 */
export function copyUp(lowerFd: number, rel: string, dirFor: (rel: string) => number, scratch: number[]): LinkTarget | 'not-a-file' | 'a-directory' | undefined {
  let found;
  try {
    found = walkInRoot(lowerFd, rel, { flags: O_PATH | O_NOFOLLOW });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
  scratch.push(found.fd);
  const st = fstatSync(found.fd);
  if (!st.isFile()) return 'not-a-file';
  const dir = posix.dirname(found.path);
  const dirFd = dirFor(dir === '.' ? '' : dir);
  const name = posix.basename(found.path);
  const here = lstatAt(dirFd, name);
  if (here) return here.isDirectory() ? 'a-directory' : { dirFd, name };
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
