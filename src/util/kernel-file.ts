/**
 * Reads of the kernel's small text files (/proc, cgroupfs) for the stats calls, which read
 * some five of them per container and per call.
 *
 * In line (synchronous) by default: these files are made by the kernel as they are read,
 * from memory; an open, two reads and a close take 12-26 µs here (memory.stat the longest),
 * and a read at offset 0 of a file kept open (readKernelFds) 5-8 µs.
 * Through libuv's pool each of those calls is a trip to a thread and back: a
 * ListPodSandboxStats of 100 pods (some 500 files) took 56 ms that way, most of it in the
 * trips, where the same reads take about 10 ms of the loop's time in line. But a read can
 * wait: memory.stat flushes the memcg counters (long on large hosts before Linux 6.8), and
 * /proc/PID/cgroup takes the cgroup mutex, which pod churn holds. So reads go through the
 * pool for a while once reads in line were slow (ReadPlace): over the last minute, on
 * average (MEAN_READ_MS), or one of them very slow (ONE_READ_MS). Not on a few slow ones: a
 * read that takes milliseconds is most often the loop preempted, by another process or by
 * the daemon's own threads (V8's, the pool's), and on this 2-core VM that came 2-3 times a
 * second under back-to-back stats calls, at 2-7 ms each, on any of the files. Three of those
 * used to move the reads to the pool for 5 minutes, where each costs the loop more than a
 * read in line (14 µs to hand a pread to a pool thread, against 5-9 µs for the pread, in a
 * CPU profile of stats calls): the wake of a thread on another vCPU. Preempted reads move
 * the mean of a call's 500 little (30 µs against 100); a host whose memory.stat takes a
 * millisecond moves it past.
 *
 * fs.readFile is not used: it stats first and, as these files say they are 0 bytes, grows
 * its buffer read by read; these read into one buffer and stop at `max`. Reads in line all
 * fill the same buffer (they are synchronous, so never two at once): a stats call of 100
 * pods allocated 4 MiB of 8 KiB buffers, one a file, and spent a sixth of its time in GC.
 */
import { close, closeSync, open, openSync, read, readSync } from 'node:fs';
import { promisify } from 'node:util';

/** The most any file read here may hold: memory.stat, the longest, is some 1.5 KiB. */
export const KERNEL_FILE_MAX = 64 << 10;

/** What a read through the pool starts with: the files read here are a line or two, memory.stat some 1.5 KiB. */
const FIRST_BUFFER = 8 << 10;
/**
 * What a read of a kept file through the pool starts with: under half of Buffer.poolSize,
 * so taken from Node's shared slab rather than allocated on its own.
 */
const FIRST_FD_BUFFER = 4095;

let scratch: Buffer | undefined;

/** The buffer every read in line fills, of at least `size` bytes. */
function scratchBuffer(size: number): Buffer {
  if (!scratch || scratch.length < size) scratch = Buffer.allocUnsafe(Math.max(size, KERNEL_FILE_MAX + 1));
  return scratch;
}

/** Reads in line that took more than this on average over the window move reads to the pool... */
const MEAN_READ_MS = 0.1;
/** ...once there were at least this many in it. */
const MEAN_MIN_READS = 100;
/** One read in line slower than this moves reads to the pool at once. */
const ONE_READ_MS = 50;
/** What is checked at each read slower than this (and once a second). */
const SLOW_READ_MS = 2;
const WINDOW_S = 60;
/** How long reads stay in the pool before they are tried in line again. */
const POOL_PERIOD_MS = 5 * 60_000;

/** Where reads go: in line, or through the pool for POOL_PERIOD_MS once reads in line were slow (see the top). */
export class ReadPlace {
  /** Reads in line by second, for the last WINDOW_S seconds: how many, and their time. */
  private seconds: { second: number; reads: number; ms: number }[] = [];
  private poolUntil = -Infinity;

  inPool(now: number): boolean {
    return now < this.poolUntil;
  }

  /** A read in line took `ms`, ending at `now`. */
  record(now: number, ms: number): void {
    const second = Math.floor(now / 1000);
    let current = this.seconds.at(-1);
    const newSecond = current?.second !== second;
    if (newSecond) {
      this.seconds = this.seconds.filter((s) => second - s.second < WINDOW_S);
      current = { second, reads: 0, ms: 0 };
      this.seconds.push(current);
    }
    current!.reads++;
    current!.ms += ms;
    if (!newSecond && ms <= SLOW_READ_MS) return;
    let reads = 0;
    let total = 0;
    for (const s of this.seconds) {
      reads += s.reads;
      total += s.ms;
    }
    if (ms <= ONE_READ_MS && (reads < MEAN_MIN_READS || total / reads <= MEAN_READ_MS)) return;
    this.seconds = [];
    this.poolUntil = now + POOL_PERIOD_MS;
  }
}

const place = new ReadPlace();

/** `read`, run in line, its time recorded for ReadPlace. */
function timed<T>(read: () => T): T {
  const start = performance.now();
  try {
    return read();
  } finally {
    const end = performance.now();
    place.record(end, end - start);
  }
}

/** The text of a kernel file of at most `max` bytes; rejects with the system error, or when it is longer. */
export function readKernelFile(path: string, max = KERNEL_FILE_MAX): Promise<string> {
  if (place.inPool(performance.now())) return readInPool(path, max);
  try {
    return Promise.resolve(timed(() => readInLine(path, max)));
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * The texts of the kernel files open at `fds`, each read again from its start (undefined for
 * one whose read failed): for files kept open and read on each call (the cgroup counters),
 * one promise for them all. Each is one pread at offset 0, which is the whole file when the
 * buffer holds it: a regular file reads short only at its end, and the cgroup files read
 * here are each one seq_file record, which the kernel gives whole. A file that fills the
 * buffer is read again, whole, into one of `max` + 1 bytes; one longer fails.
 */
export function readKernelFds(fds: readonly number[], max = KERNEL_FILE_MAX): Promise<(string | undefined)[]> {
  if (place.inPool(performance.now())) return Promise.all(fds.map((fd) => readFdInPool(fd, max).catch(() => undefined)));
  const texts: (string | undefined)[] = [];
  for (const fd of fds) {
    try {
      texts.push(timed(() => readFdInLine(fd, max)));
    } catch {
      texts.push(undefined);
    }
  }
  return Promise.resolve(texts);
}

/**
 * A first read shorter than this is the whole file, and no read that returns nothing follows
 * (one syscall of three, a pod's /proc/PID/net/dev on each stats call): a regular file reads
 * short only at its end, and a seq_file (the /proc and cgroup files) stops short of what was
 * asked only at its end or once its buffer, a page (4 KiB) at least, cannot take its next
 * record; the records of the files read here (a net/dev or a /proc/PID/cgroup line) are some
 * 100 bytes, 2 KiB at most.
 */
const WHOLE_FIRST_READ = 2048;

/** The read itself, synchronous: open, reads until one returns nothing (or a short first one), close. */
export function readInLine(path: string, max = KERNEL_FILE_MAX): string {
  const fd = openSync(path, 'r');
  try {
    const buf = scratchBuffer(max + 1);
    let length = 0;
    for (;;) {
      // From the file position (null), not an offset: seq_file reads are cheapest in order.
      const n = readSync(fd, buf, length, max + 1 - length, null);
      if (n === 0 || (length === 0 && n < WHOLE_FIRST_READ && n <= max)) return buf.toString('utf8', 0, length + n);
      length += n;
      if (length > max) throw new Error(`more than ${max} bytes`);
    }
  } finally {
    closeSync(fd);
  }
}

/** A read of readKernelFds in line. */
export function readFdInLine(fd: number, max = KERNEL_FILE_MAX): string {
  const buf = scratchBuffer(max + 1);
  const n = readSync(fd, buf, 0, max + 1, 0);
  if (n > max) throw new Error(`more than ${max} bytes`);
  return buf.toString('utf8', 0, n);
}

const pread = promisify(read);

/** A read of readKernelFds through libuv's pool: one trip, two for a file longer than FIRST_FD_BUFFER. */
export function readFdInPool(fd: number, max = KERNEL_FILE_MAX): Promise<string> {
  const once = async (size: number): Promise<{ buf: Buffer; n: number }> => {
    const buf = Buffer.allocUnsafe(size);
    return { buf, n: (await pread(fd, buf, 0, size, 0)).bytesRead };
  };
  const first = Math.min(FIRST_FD_BUFFER, max + 1);
  return once(first).then(async ({ buf, n }) => {
    if (n === first && first <= max) ({ buf, n } = await once(max + 1));
    if (n > max) throw new Error(`more than ${max} bytes`);
    return buf.toString('utf8', 0, n);
  });
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
