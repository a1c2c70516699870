import { constants, openSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import koffi from 'koffi';
import { isErrno } from '../errors.js';
import { fail, fcntl } from './fs-syscalls.js';

/**
 * Direct I/O (O_DIRECT) for layer blobs: a blob is written once as it downloads, read once by
 * the unpack that follows it, and seldom after (an export, an unpack again). Through the page
 * cache, each of its bytes costs a page allocated and copied into, then copied out: on this
 * kind of VM, whose free pages the host takes back, a new page-cache page is costly (a 200 MB
 * write of zeros: 0.22-0.66 s of system time buffered, 0.02 s direct; bench/pull's cold pull
 * spent a third of its CPU in the kernel's copies). Direct I/O moves the bytes between the
 * process's buffers and the disk, and leaves the page cache to the files containers read.
 *
 * It wants the memory, the file offset and the length aligned to the device's block size;
 * this uses a page, which covers 512- and 4096-byte blocks. A file system without it refuses
 * the open or the I/O with EINVAL, and its callers fall back to buffered I/O.
 */

/** The alignment of direct I/O's memory, offsets and lengths here. */
export const DIRECT_IO_ALIGN = 4096;

const F_GETFL = 3;
const F_SETFL = 4;

/**
 * A Buffer of `size` bytes whose memory starts at a multiple of DIRECT_IO_ALIGN. Node gives
 * no alignment beyond malloc's 16 bytes and no way to ask for more; koffi tells where a
 * Buffer's bytes are, so this allocates DIRECT_IO_ALIGN bytes more and starts at the first
 * aligned address.
 */
export function alignedBuffer(size: number): Buffer {
  const whole = Buffer.allocUnsafeSlow(size + DIRECT_IO_ALIGN);
  const misaligned = Number(koffi.address(whole) % BigInt(DIRECT_IO_ALIGN));
  const skip = misaligned === 0 ? 0 : DIRECT_IO_ALIGN - misaligned;
  return whole.subarray(skip, skip + size);
}

/** `n` rounded up to a multiple of DIRECT_IO_ALIGN. */
export function alignUp(n: number): number {
  return Math.ceil(n / DIRECT_IO_ALIGN) * DIRECT_IO_ALIGN;
}

/** `path`, an existing file, opened again for writing with O_DIRECT; undefined where the file system has no direct I/O. */
export async function openDirectForWriting(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, constants.O_WRONLY | constants.O_DIRECT);
  } catch (err) {
    if (isErrno(err, 'EINVAL')) return undefined;
    throw err;
  }
}

/** `path` opened for reading, with O_DIRECT where the file system has it. */
export function openForDirectReading(path: string): number {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_DIRECT);
  } catch (err) {
    if (isErrno(err, 'EINVAL')) return openSync(path, constants.O_RDONLY);
    throw err;
  }
}

/** Whether `fd` was opened with O_DIRECT. */
export function isDirect(fd: number): boolean {
  const flags = fcntl(fd, F_GETFL);
  if (flags < 0) fail('fcntl', `fd ${fd}`);
  return (flags & constants.O_DIRECT) !== 0;
}

/** Turns O_DIRECT off on `fd`, for a read or write that cannot be aligned. */
export function endDirect(fd: number): void {
  const flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~constants.O_DIRECT) < 0) fail('fcntl', `fd ${fd}`);
}
