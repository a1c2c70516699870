import koffi, { type LibraryHandle } from 'koffi';
import { constants, osErrorName } from './errno.js';

/**
 * The few file syscalls Node lacks: mknod and the xattr family, through koffi (ffi-napi does
 * not build on Node 20). Safe in worker threads: each call is a plain libc call on a path.
 * Failures throw a Node-style error with `code` ('EPERM'…), `errno` and `syscall`.
 */
interface Libc {
  mknod(path: string, mode: number, dev: bigint | number): number;
  lsetxattr(path: string, name: string, value: Buffer, size: number, flags: number): number;
  lgetxattr(path: string, name: string, value: Buffer | null, size: number): number;
  llistxattr(path: string, list: Buffer | null, size: number): number;
}

let libcLib: LibraryHandle | undefined;

/** libc, loaded once for every module that calls it through koffi. */
export function libcLibrary(): LibraryHandle {
  libcLib ??= koffi.load('libc.so.6');
  return libcLib;
}

/**
 * A module's libc functions, bound on first use: `prototypes` gives each one's C prototype,
 * `T` its TypeScript signature (koffi's functions are untyped, so the two must agree).
 */
export function libcFunctions<T>(prototypes: { readonly [K in keyof T]: string }): () => T {
  let bound: T | undefined;
  return () => {
    if (!bound) {
      const l = libcLibrary();
      bound = Object.fromEntries(Object.entries<string>(prototypes).map(([name, prototype]) => [name, l.func(prototype)])) as T;
    }
    return bound;
  };
}

const lib = libcFunctions<Libc>({
  mknod: 'int mknod(const char *path, uint32_t mode, uint64_t dev)',
  lsetxattr: 'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
  lgetxattr: 'intptr_t lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)',
  llistxattr: 'intptr_t llistxattr(const char *path, _Out_ char *list, size_t size)',
});

/** Throws the Node-style error for the errno koffi saw after a failed call. */
export function fail(syscall: string, path: string): never {
  const errno = koffi.errno();
  const code = osErrorName(errno);
  const err = new Error(`${syscall} ${path}: ${code}`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  err.path = path;
  throw err;
}

/** Linux's makedev encoding, as glibc's gnu_dev_makedev. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

export const S_IFCHR = constants.S_IFCHR;
export const S_IFBLK = constants.S_IFBLK;
export const S_IFIFO = constants.S_IFIFO;

export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  if (lib().mknod(path, mode, makedev(major, minor)) !== 0) fail('mknod', path);
}

export function lsetxattr(path: string, name: string, value: Buffer): void {
  if (lib().lsetxattr(path, name, value, value.length, 0) !== 0) fail('lsetxattr', path);
}

export function lgetxattr(path: string, name: string): Buffer {
  const size = lib().lgetxattr(path, name, null, 0);
  if (size < 0) fail('lgetxattr', path);
  const buf = Buffer.alloc(Number(size));
  const got = lib().lgetxattr(path, name, buf, buf.length);
  if (got < 0) fail('lgetxattr', path);
  return buf.subarray(0, Number(got));
}

export function llistxattr(path: string): string[] {
  const size = lib().llistxattr(path, null, 0);
  if (size < 0) fail('llistxattr', path);
  if (Number(size) === 0) return [];
  const buf = Buffer.alloc(Number(size));
  const got = lib().llistxattr(path, buf, buf.length);
  if (got < 0) fail('llistxattr', path);
  return buf.subarray(0, Number(got)).toString('latin1').split('\0').filter(Boolean);
}

const fcntlCalls = libcFunctions<{ fcntl(fd: number, cmd: number, ...arg: unknown[]): number }>({ fcntl: 'int fcntl(int fd, int cmd, ...)' });

/** fcntl(2) (Node has none), with no argument or an int one: -1 with koffi's errno on failure, as the call itself. */
export function fcntl(fd: number, cmd: number, arg?: number): number {
  return arg === undefined ? fcntlCalls().fcntl(fd, cmd) : fcntlCalls().fcntl(fd, cmd, 'int', arg);
}

const lockCalls = libcFunctions<{ flock(fd: number, op: number): number }>({ flock: 'int flock(int fd, int op)' });

/** flock(2) (Node has none): -1 with koffi's errno on failure, as the call itself. */
export function flock(fd: number, op: number): number {
  return lockCalls().flock(fd, op);
}
