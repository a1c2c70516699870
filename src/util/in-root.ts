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
        if (code !== 'ENOSYS') throw err;
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

/** Removes `name` from the directory `dirFd`, a directory with all it holds; false if absent. */
export function removeAt(dirFd: number, name: string): boolean {
  try {
    unlinkat(dirFd, name);
    return true;
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT') return false;
    if (code !== 'EISDIR' && code !== 'EPERM') throw err;
  }
  try {
    unlinkat(dirFd, name, AT_REMOVEDIR);
    return true;
  } catch (err) {
    if (errnoOf(err) !== 'ENOTEMPTY' && errnoOf(err) !== 'EEXIST') throw err;
  }
  const fd = openat(dirFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    for (const child of readdirSync(`/proc/self/fd/${fd}`)) removeAt(fd, child);
  } finally {
    closeSync(fd);
  }
  unlinkat(dirFd, name, AT_REMOVEDIR);
  return true;
}

const readFd = promisify(read);

/** The most Coracle reads of a file in an image or container root unless told otherwise. */
export const MAX_IN_ROOT_READ = 1 << 20;

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
    const st = fstatSync(pathFd);
    if (!st.isFile()) throw refuse(`not a regular file (${kindOf(st)})`);
    if (st.size > max) throw refuse(`${st.size} bytes, more than the ${max} allowed`);
    // Through the O_PATH fd's /proc link: the very file looked at.
    fd = openSync(`/proc/self/fd/${pathFd}`, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    const again = fstatSync(fd);
    if (!again.isFile() || again.ino !== st.ino || again.dev !== st.dev) throw refuse('changed while being opened');
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
