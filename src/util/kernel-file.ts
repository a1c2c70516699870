/**
 * Reads of the kernel's small text files (/proc, cgroupfs) for the stats calls, which read
 * some five of them per container and per call.
 *
 * Synchronous, on purpose: these files are made by the kernel as they are read, from memory,
 * and never wait on a disk; an open, two reads and a close take 12-26 µs here (memory.stat
 * the longest). Through libuv's pool each of those four calls was a trip to a thread and
 * back: a ListPodSandboxStats of 100 pods (some 500 files) took 56 ms, most of it in the
 * trips, where the same reads take about 10 ms of the loop's time in line. Not for files on
 * a disk. fs.readFileSync is not used because it stats first and, as these files say they
 * are 0 bytes, grows its buffer read by read; this reads into one buffer and stops at `max`.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** The most any file read here may hold: memory.stat, the longest, is some 1.5 KiB. */
export const KERNEL_FILE_MAX = 64 << 10;

/** What a read starts with: the files read here are a line or two, memory.stat some 1.5 KiB. */
const FIRST_BUFFER = 8 << 10;

/** The text of a kernel file of at most `max` bytes; throws the system error, or when it is longer. */
export function readKernelFile(path: string, max = KERNEL_FILE_MAX): string {
  const fd = openSync(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(Math.min(FIRST_BUFFER, max + 1));
    let length = 0;
    for (;;) {
      if (length === buf.length) {
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, max + 1));
        buf.copy(bigger, 0, 0, length);
        buf = bigger;
      }
      // From the file position (null), not an offset: seq_file reads are cheapest in order.
      const n = readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) return buf.toString('utf8', 0, length);
      length += n;
      if (length > max) throw new Error(`${path}: more than ${max} bytes`);
    }
  } finally {
    closeSync(fd);
  }
}
