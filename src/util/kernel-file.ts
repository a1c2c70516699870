/**
 * Reads of the kernel's small text files (/proc, cgroupfs) for the stats calls, which read
 * some ten of them per container and per call.
 *
 * Written here rather than fs.promises.readFile because that one stats the file and, as
 * these files say they are 0 bytes, reads on until a read returns nothing: five trips to
 * libuv's pool and a FileHandle per file. This is open, reads until one returns nothing,
 * close, through the callback API, with one buffer; and it stops at `max` bytes.
 */
import { close, open, read } from 'node:fs';

/** The most any file read here may hold: memory.stat, the longest, is some 1.5 KiB. */
export const KERNEL_FILE_MAX = 64 << 10;

/** What a read starts with: the files read here are a line or two, memory.stat some 1.5 KiB. */
const FIRST_BUFFER = 8 << 10;

function readAll(fd: number, max: number, done: (err: Error | null, text?: string) => void): void {
  let buf = Buffer.allocUnsafe(Math.min(FIRST_BUFFER, max + 1));
  let length = 0;
  const next = (): void => {
    if (length === buf.length) {
      const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, max + 1));
      buf.copy(bigger, 0, 0, length);
      buf = bigger;
    }
    // From the file position (null), not an offset: seq_file reads are cheapest in order.
    read(fd, buf, length, buf.length - length, null, (err, n) => {
      if (err) return done(err);
      length += n;
      if (n === 0) return done(null, buf.toString('utf8', 0, length));
      if (length > max) return done(new Error(`more than ${max} bytes`));
      next();
    });
  };
  next();
}

/** The text of a kernel file of at most `max` bytes; rejects with the system error or when it is longer. */
export function readKernelFile(path: string, max = KERNEL_FILE_MAX): Promise<string> {
  return new Promise((resolve, reject) => {
    open(path, 'r', (err, fd) => {
      if (err) return reject(err);
      readAll(fd, max, (readErr, text) => {
        close(fd, (closeErr) => {
          if (readErr ?? closeErr) reject(readErr ?? closeErr);
          else resolve(text!);
        });
      });
    });
  });
}
