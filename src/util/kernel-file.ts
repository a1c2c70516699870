/**
 * Reads of the kernel's small text files (/proc, cgroupfs) for the stats calls, which read
 * some five of them per container and per call.
 *
 * In line (synchronous) by default: these files are made by the kernel as they are read,
 * from memory; an open, two reads and a close take 12-26 µs here (memory.stat the longest).
 * Through libuv's pool each of those four calls is a trip to a thread and back: a
 * ListPodSandboxStats of 100 pods (some 500 files) took 56 ms that way, most of it in the
 * trips, where the same reads take about 10 ms of the loop's time in line. But a read can
 * wait: memory.stat flushes the memcg counters (long on large hosts before Linux 6.8), and
 * /proc/PID/cgroup takes the cgroup mutex, which pod churn holds. So reads go through the
 * pool for a while once several in line were slow within a minute (ReadPlace): one slow read
 * alone is most often the loop preempted on a loaded machine, which a host whose reads wait
 * repeats at once (a stats call reads hundreds). The daemon then stalls at most a few reads'
 * time every POOL_PERIOD_MS on such a host, and keeps reading in line everywhere else.
 *
 * fs.readFile is not used: it stats first and, as these files say they are 0 bytes, grows
 * its buffer read by read; these read into one buffer and stop at `max`.
 */
import { close, closeSync, open, openSync, read, readSync } from 'node:fs';

/** The most any file read here may hold: memory.stat, the longest, is some 1.5 KiB. */
export const KERNEL_FILE_MAX = 64 << 10;

/** What a read starts with: the files read here are a line or two, memory.stat some 1.5 KiB. */
const FIRST_BUFFER = 8 << 10;

/** A read in line slower than this counts as slow. */
const SLOW_READ_MS = 2;
/** Slow reads within SLOW_WINDOW_MS that move reads to the pool. */
const SLOW_READS_TO_POOL = 3;
const SLOW_WINDOW_MS = 60_000;
/** How long reads stay in the pool before they are tried in line again. */
const POOL_PERIOD_MS = 5 * 60_000;

/** Where reads go: in line, or through the pool for POOL_PERIOD_MS once reads in line were slow (see the top). */
export class ReadPlace {
  private slow: number[] = [];
  private poolUntil = -Infinity;

  inPool(now: number): boolean {
    return now < this.poolUntil;
  }

  /** A read in line took `ms`, ending at `now`. */
  record(now: number, ms: number): void {
    if (ms <= SLOW_READ_MS) return;
    this.slow = this.slow.filter((at) => now - at < SLOW_WINDOW_MS);
    this.slow.push(now);
    if (this.slow.length < SLOW_READS_TO_POOL) return;
    this.slow = [];
    this.poolUntil = now + POOL_PERIOD_MS;
  }
}

const place = new ReadPlace();

/** Whether reads go through the pool now (reads in line were slow). */
export function kernelReadsInPool(): boolean {
  return place.inPool(performance.now());
}

/** The text of a kernel file of at most `max` bytes; rejects with the system error, or when it is longer. */
export function readKernelFile(path: string, max = KERNEL_FILE_MAX): Promise<string> {
  const start = performance.now();
  if (place.inPool(start)) return readInPool(path, max);
  try {
    return Promise.resolve(readInLine(path, max));
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  } finally {
    const end = performance.now();
    place.record(end, end - start);
  }
}

/** The read itself, synchronous: open, reads until one returns nothing, close. */
export function readInLine(path: string, max = KERNEL_FILE_MAX): string {
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
      if (length > max) throw new Error(`more than ${max} bytes`);
    }
  } finally {
    closeSync(fd);
  }
}

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

/** readInLine through libuv's pool: open, reads and close, each a trip to a thread. */
export function readInPool(path: string, max = KERNEL_FILE_MAX): Promise<string> {
  return new Promise((resolve, reject) => {
    open(path, 'r', (err, fd) => {
      if (err) return reject(err);
      readAll(fd, max, (readErr, text) => {
        close(fd, (closeErr) => {
          const failed = readErr ?? closeErr;
          if (failed) reject(failed);
          else resolve(text!);
        });
      });
    });
  });
}
