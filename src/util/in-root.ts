import { closeSync, fstatSync, lstatSync, openSync, read, readdirSync, type Stats } from 'node:fs';
import { promisify } from 'node:util';
import { CoracleError } from '../errors.js';
import {
  AT_REMOVEDIR,
  mkdirat,
  O_DIRECTORY,
  O_NOCTTY,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_PATH,
  O_RDONLY,
  openat,
  openat2,
  readlinkat,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  unlinkat,
} from './at-syscalls.js';

/**
 * Paths inside a tree Coracle does not trust (an image layer, a container's root), resolved
 * the way the container would resolve them: as if the tree were `/`. A symlink is followed
 * only inside the tree (an absolute target starts at the tree's root, `..` stops there), and
 * what comes back is an fd, so nothing is looked up again by a path an image can change.
 * The kernel does this itself with openat2(RESOLVE_IN_ROOT) (Linux 5.6+); older kernels get
 * the same walk done here one component at a time, each opened O_NOFOLLOW.
 */

const MAX_SYMLINKS = 40;
/** Directories the component walk holds open at once: one fd per level, so a bound. */
export const MAX_WALK_DEPTH = 256;
let useOpenat2 = true;

/** For tests: take the component walk even where the kernel has openat2. */
export function setOpenat2(enabled: boolean): void {
  useOpenat2 = enabled;
}

const errnoOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

function errnoError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const err = new Error(`${syscall} ${path}: ${code}`) as NodeJS.ErrnoException;
  err.code = code;
  err.syscall = syscall;
  err.path = path;
  return err;
}

/**
 * Opens `rel` inside the directory `rootFd` with `flags` (O_NOFOLLOW: the last component is
 * not followed even inside). No O_CREAT: create with the *at calls on a parent's fd.
 */
export function openInRoot(rootFd: number, rel: string, flags: number): number {
  if (useOpenat2) {
    for (let attempt = 0; ; attempt++) {
      try {
        return openat2(rootFd, rel === '' ? '.' : rel, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
      } catch (err) {
        const code = errnoOf(err);
        // EAGAIN: a rename raced a `..`; the kernel asks for another try.
        if (code === 'EAGAIN' && attempt < 8) continue;
        // EPERM: a seccomp filter (a container's, a sandbox's) that answers so for new syscalls.
        if (code !== 'ENOSYS' && code !== 'EPERM') throw err;
        useOpenat2 = false;
        break;
      }
    }
  }
  return walkInRoot(rootFd, rel, { flags }).fd;
}

export interface Walked {
  fd: number;
  /** The path resolved, relative to the root, with no symlink in it. */
  path: string;
}

/**
 * The same resolution as openInRoot, component by component; it also says where it ended
 * up, and with `mkdir` makes the directories missing on the way (0755, as `mkdir -p` would,
 * through dangling symlinks too, always inside). `onMkdir` counts them.
 */
export function walkInRoot(rootFd: number, rel: string, opts: { flags: number; mkdir?: boolean; onMkdir?: () => void }): Walked {
  const followLast = (opts.flags & O_NOFOLLOW) === 0;
  const wantDir = (opts.flags & O_DIRECTORY) !== 0;
  const stack: { fd: number; name: string }[] = [];
  const top = (): number => (stack.length > 0 ? stack[stack.length - 1]!.fd : rootFd);
  const here = (name?: string): string => [...stack.map((s) => s.name), ...(name === undefined ? [] : [name])].join('/');
  const pending = rel.split('/');
  let links = 0;
  try {
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        const up = stack.pop();
        if (up) closeSync(up.fd);
        continue;
      }
      const last = !pending.some((p) => p !== '' && p !== '.');
      if (last && !followLast) return { fd: openat(top(), part, opts.flags | O_NOFOLLOW), path: here(part) };
      // O_PATH|O_NOFOLLOW would open a last symlink itself: look first.
      let target = last ? symlinkAt(top(), part) : undefined;
      let fd: number | undefined;
      if (target === undefined) {
        try {
          fd = openat(top(), part, (last ? opts.flags : O_RDONLY | O_DIRECTORY) | O_NOFOLLOW);
        } catch (err) {
          const code = errnoOf(err);
          if (code !== 'ENOENT' && code !== 'ELOOP' && code !== 'ENOTDIR') throw err;
          target = symlinkAt(top(), part);
          if (target === undefined) {
            if (code !== 'ENOENT' || !opts.mkdir || (last && !wantDir)) throw err;
            mkdirat(top(), part, 0o755);
            opts.onMkdir?.();
            pending.unshift(part);
            continue;
          }
        }
      }
      if (fd === undefined) {
        if (++links > MAX_SYMLINKS) throw errnoError('ELOOP', 'open', rel);
        if (target!.startsWith('/')) while (stack.length > 0) closeSync(stack.pop()!.fd);
        pending.unshift(...target!.split('/'));
        continue;
      }
      if (last) return { fd, path: here(part) };
      stack.push({ fd, name: part });
      if (stack.length > MAX_WALK_DEPTH) throw errnoError('ENAMETOOLONG', 'open', rel);
    }
    return { fd: openat(top(), '.', opts.flags), path: here() };
  } finally {
    for (const s of stack) closeSync(s.fd);
  }
}

/** The target of the symlink `name` in `dirFd`; undefined when that is no symlink. */
function symlinkAt(dirFd: number, name: string): string | undefined {
  try {
    return readlinkat(dirFd, name);
  } catch {
    return undefined;
  }
}

/** lstat of `name` in the directory `dirFd`; undefined when there is nothing there. */
export function lstatAt(dirFd: number, name: string): Stats | undefined {
  // Through the fd's /proc link: the directory is the one held, `name` is not followed.
  return lstatSync(`/proc/self/fd/${dirFd}/${name}`, { throwIfNoEntry: false });
}

/** unlink or rmdir `name` in `dirFd`; 'full' for a directory that still has entries. */
function removeOne(dirFd: number, name: string): 'removed' | 'absent' | 'full' {
  try {
    unlinkat(dirFd, name);
    return 'removed';
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT') return 'absent';
    if (code !== 'EISDIR' && code !== 'EPERM') throw err;
  }
  try {
    unlinkat(dirFd, name, AT_REMOVEDIR);
    return 'removed';
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT') return 'absent';
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return 'full';
    throw err;
  }
}

/**
 * Removes `name` from the directory `dirFd`, a directory with all it holds; false if absent.
 * Iterative, holding one fd at a time (it climbs back through `..`, checked to be the parent
 * it came from): a layer can build a tree deeper than PATH_MAX, the stack or the fd limit.
 * Meant for trees nothing else is changing (a staging dir, a snapshot being removed).
 */
export function removeAt(dirFd: number, name: string): boolean {
  const first = removeOne(dirFd, name);
  if (first !== 'full') return first === 'removed';
  const dirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
  // The path from dirFd to `fd`, each level with the subdirectories it still has to empty.
  const levels: { name: string; pending: string[]; listed: boolean }[] = [{ name, pending: [], listed: false }];
  let fd = openat(dirFd, name, dirFlags);
  try {
    for (;;) {
      const level = levels[levels.length - 1]!;
      if (!level.listed) {
        for (const child of readdirSync(`/proc/self/fd/${fd}`)) if (removeOne(fd, child) === 'full') level.pending.push(child);
        level.listed = true;
      }
      const next = level.pending.pop();
      if (next !== undefined) {
        let sub: number;
        try {
          sub = openat(fd, next, dirFlags);
        } catch (err) {
          if (errnoOf(err) === 'ENOENT') continue;
          throw err;
        }
        closeSync(fd);
        fd = sub;
        levels.push({ name: next, pending: [], listed: false });
        continue;
      }
      const held = fstatSync(fd);
      const up = levels.length === 1 ? dirFd : openat(fd, '..', dirFlags);
      closeSync(fd);
      fd = -1;
      const there = lstatAt(up, level.name);
      if (!there || there.dev !== held.dev || there.ino !== held.ino) {
        if (up !== dirFd) closeSync(up);
        throw errnoError('ESTALE', 'remove', name);
      }
      try {
        unlinkat(up, level.name, AT_REMOVEDIR);
      } catch (err) {
        if (errnoOf(err) !== 'ENOTEMPTY' && errnoOf(err) !== 'EEXIST') {
          if (up !== dirFd) closeSync(up);
          throw err;
        }
        // Something appeared meanwhile: list it again.
        fd = openat(up, level.name, dirFlags);
        if (up !== dirFd) closeSync(up);
        level.listed = false;
        continue;
      }
      levels.pop();
      if (levels.length === 0) return true;
      fd = up;
    }
  } finally {
    if (fd !== -1) closeSync(fd);
  }
}

/**
 * Opens for reading the object an O_PATH fd holds, only if it is a regular file: opening a
 * device node runs its driver's code and a FIFO blocks, while looking at it through O_PATH
 * does neither. Reopened through the fd's /proc link, so it is the very object looked at.
 * `fd` is undefined when it is no regular file; `st` says what it is.
 */
function reopenRegular(pathFd: number): { fd?: number; st: Stats } {
  const st = fstatSync(pathFd);
  if (!st.isFile()) return { st };
  const fd = openSync(`/proc/self/fd/${pathFd}`, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  const again = fstatSync(fd);
  if (!again.isFile() || again.ino !== st.ino || again.dev !== st.dev) {
    closeSync(fd);
    return { st: again };
  }
  return { fd, st };
}

/** `name` in `dirFd`, not followed, opened for reading if it is a regular file (see reopenRegular). */
export function openRegularAt(dirFd: number, name: string): { fd?: number; st: Stats } {
  const pathFd = openat(dirFd, name, O_PATH | O_NOFOLLOW);
  try {
    return reopenRegular(pathFd);
  } finally {
    closeSync(pathFd);
  }
}

const readFd = promisify(read);

/** The most Coracle reads of a file in an image or container root unless told otherwise. */
const MAX_IN_ROOT_READ = 1 << 20;

/**
 * Reads a small file of a root it does not trust (a container's /etc/passwd): resolved
 * inside `root`, only a regular file (never a FIFO that blocks or a device that never ends),
 * at most `max` bytes, opened non-blocking. Undefined when it does not exist; a hostile or
 * broken one fails FAILED_PRECONDITION naming `what`.
 */
export async function readFileInRoot(root: string, rel: string, what: string, max = MAX_IN_ROOT_READ): Promise<Buffer | undefined> {
  const refuse = (why: string): CoracleError => new CoracleError('FAILED_PRECONDITION', `${what}: ${why}`);
  const rootFd = openSync(root, O_RDONLY | O_DIRECTORY);
  let pathFd: number | undefined;
  let fd: number | undefined;
  try {
    try {
      // O_PATH first: opening a device node can do things; looking at it cannot.
      pathFd = openInRoot(rootFd, rel, O_PATH);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT') return undefined;
      throw refuse(code === 'ELOOP' ? 'too many levels of symbolic links' : code === 'ENOTDIR' ? 'a parent is not a directory' : `cannot open: ${code ?? (err as Error).message}`);
    }
    const opened = reopenRegular(pathFd);
    if (opened.fd === undefined) throw refuse(opened.st.isFile() ? 'changed while being opened' : `not a regular file (${kindOf(opened.st)})`);
    fd = opened.fd;
    if (opened.st.size > max) throw refuse(`${opened.st.size} bytes, more than the ${max} allowed`);
    const buf = Buffer.alloc(max + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await readFd(fd, buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got > max) throw refuse(`more than the ${max} bytes allowed`);
    }
    return buf.subarray(0, got);
  } finally {
    if (fd !== undefined) closeSync(fd);
    if (pathFd !== undefined) closeSync(pathFd);
    closeSync(rootFd);
  }
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a file';
}
