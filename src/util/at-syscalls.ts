import { constants } from './errno.js';
import { fail, libcFunctions, makedev } from './fs-syscalls.js';

/**
 * The fd-relative file syscalls (the *at family, openat2, f*xattr) through koffi: Node only
 * has path-based calls, which follow every symlink but the last. With these, a walk of a
 * tree it does not trust (a layer, a container root) names each object by a directory fd it
 * holds and one component, so nothing resolves through a symlink behind its back.
 * Synchronous on purpose: the unpacker runs them in a worker thread, thousands per layer.
 */
interface Libc {
  openat(dirfd: number, path: string, flags: number, mode: number): number;
  syscall(nr: number, dirfd: number, path: string, how: Buffer, size: number): number;
  mkdirat(dirfd: number, path: string, mode: number): number;
  mknodat(dirfd: number, path: string, mode: number, dev: bigint): number;
  symlinkat(target: string, dirfd: number, path: string): number;
  linkat(olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags: number): number;
  unlinkat(dirfd: number, path: string, flags: number): number;
  fchownat(dirfd: number, path: string, uid: number, gid: number, flags: number): number;
  fchmodat(dirfd: number, path: string, mode: number, flags: number): number;
  utimensat(dirfd: number, path: string, times: Buffer, flags: number): number;
  readlinkat(dirfd: number, path: string, buf: Buffer, size: number): number;
  fsetxattr(fd: number, name: string, value: Buffer, size: number, flags: number): number;
  fgetxattr(fd: number, name: string, value: Buffer | null, size: number): number;
  flistxattr(fd: number, list: Buffer | null, size: number): number;
}

const lib = libcFunctions<Libc>({
  openat: 'int openat(int dirfd, const char *path, int flags, uint32_t mode)',
  // glibc has no openat2 wrapper; syscall() takes integer arguments in registers.
  syscall: 'long syscall(long nr, int dirfd, const char *path, const void *how, size_t size)',
  mkdirat: 'int mkdirat(int dirfd, const char *path, uint32_t mode)',
  mknodat: 'int mknodat(int dirfd, const char *path, uint32_t mode, uint64_t dev)',
  symlinkat: 'int symlinkat(const char *target, int dirfd, const char *path)',
  linkat: 'int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)',
  unlinkat: 'int unlinkat(int dirfd, const char *path, int flags)',
  fchownat: 'int fchownat(int dirfd, const char *path, uint32_t uid, uint32_t gid, int flags)',
  fchmodat: 'int fchmodat(int dirfd, const char *path, uint32_t mode, int flags)',
  utimensat: 'int utimensat(int dirfd, const char *path, const void *times, int flags)',
  readlinkat: 'intptr_t readlinkat(int dirfd, const char *path, _Out_ void *buf, size_t size)',
  fsetxattr: 'int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)',
  fgetxattr: 'intptr_t fgetxattr(int fd, const char *name, _Out_ void *value, size_t size)',
  flistxattr: 'intptr_t flistxattr(int fd, _Out_ char *list, size_t size)',
});

export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;
/** Linux's values; Node's fs.constants has neither. */
export const O_PATH = 0o10000000;
export const O_CLOEXEC = 0o2000000;
export const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK, O_NOCTTY } = constants;

export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_IN_ROOT = 0x10;
const SYS_OPENAT2 = 437;

export function openat(dirfd: number, path: string, flags: number, mode = 0): number {
  const fd = lib().openat(dirfd, path, flags | O_CLOEXEC, mode);
  if (fd < 0) fail('openat', path);
  return fd;
}

/** openat2(2): `resolve` is RESOLVE_* flags. ENOSYS on kernels before 5.6. */
export function openat2(dirfd: number, path: string, flags: number, resolve: number, mode = 0): number {
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(flags | O_CLOEXEC), 0);
  how.writeBigUInt64LE(BigInt(mode), 8);
  how.writeBigUInt64LE(BigInt(resolve), 16);
  const fd = Number(lib().syscall(SYS_OPENAT2, dirfd, path, how, how.length));
  if (fd < 0) fail('openat2', path);
  return fd;
}

export function mkdirat(dirfd: number, path: string, mode: number): void {
  if (lib().mkdirat(dirfd, path, mode) !== 0) fail('mkdirat', path);
}

export function mknodat(dirfd: number, path: string, mode: number, major = 0, minor = 0): void {
  if (lib().mknodat(dirfd, path, mode, makedev(major, minor)) !== 0) fail('mknodat', path);
}

export function symlinkat(target: string, dirfd: number, path: string): void {
  if (lib().symlinkat(target, dirfd, path) !== 0) fail('symlinkat', path);
}

/** A hard link; flags 0 links a symlink itself, never what it points at. */
export function linkat(olddirfd: number, oldpath: string, newdirfd: number, newpath: string): void {
  if (lib().linkat(olddirfd, oldpath, newdirfd, newpath, 0) !== 0) fail('linkat', newpath);
}

export function unlinkat(dirfd: number, path: string, flags = 0): void {
  if (lib().unlinkat(dirfd, path, flags) !== 0) fail('unlinkat', path);
}

/** Owner of the entry itself, never of what a symlink there points at. */
export function lchownat(dirfd: number, path: string, uid: number, gid: number): void {
  if (lib().fchownat(dirfd, path, uid >>> 0, gid >>> 0, AT_SYMLINK_NOFOLLOW) !== 0) fail('fchownat', path);
}

/** Mode of the entry itself (glibc does it through an O_PATH fd); EOPNOTSUPP on a symlink. */
export function lchmodat(dirfd: number, path: string, mode: number): void {
  if (lib().fchmodat(dirfd, path, mode, AT_SYMLINK_NOFOLLOW) !== 0) fail('fchmodat', path);
}

/** atime and mtime (seconds, may have a fraction) of the entry itself. */
export function lutimesat(dirfd: number, path: string, mtime: number): void {
  const times = Buffer.alloc(32);
  const sec = Math.floor(mtime);
  const nsec = Math.round((mtime - sec) * 1e9);
  for (const off of [0, 16]) {
    times.writeBigInt64LE(BigInt(sec), off);
    times.writeBigInt64LE(BigInt(nsec), off + 8);
  }
  if (lib().utimensat(dirfd, path, times, AT_SYMLINK_NOFOLLOW) !== 0) fail('utimensat', path);
}

export function readlinkat(dirfd: number, path: string): string {
  const buf = Buffer.alloc(4096);
  const n = Number(lib().readlinkat(dirfd, path, buf, buf.length));
  if (n < 0) fail('readlinkat', path);
  return buf.toString('utf8', 0, n);
}

export function fsetxattr(fd: number, name: string, value: Buffer): void {
  if (lib().fsetxattr(fd, name, value, value.length, 0) !== 0) fail('fsetxattr', name);
}

export function fgetxattr(fd: number, name: string): Buffer {
  const size = Number(lib().fgetxattr(fd, name, null, 0));
  if (size < 0) fail('fgetxattr', name);
  const buf = Buffer.alloc(size);
  const got = Number(lib().fgetxattr(fd, name, buf, buf.length));
  if (got < 0) fail('fgetxattr', name);
  return buf.subarray(0, got);
}

export function flistxattr(fd: number): string[] {
  const size = Number(lib().flistxattr(fd, null, 0));
  if (size < 0) fail('flistxattr', String(fd));
  if (size === 0) return [];
  const buf = Buffer.alloc(size);
  const got = Number(lib().flistxattr(fd, buf, buf.length));
  if (got < 0) fail('flistxattr', String(fd));
  return buf.subarray(0, got).toString('latin1').split('\0').filter(Boolean);
}
