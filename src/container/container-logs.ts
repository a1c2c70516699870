import { constants } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { failedPrecondition, isErrno, withContext } from '../errors.js';
import type { ContainerContext } from './container-context.js';
import { refresh } from './container-exits.js';
import { isRunning } from './container-states.js';
import { CriLogParser, type LogMessage } from './cri-log-lines.js';

export type { LogMessage } from './cri-log-lines.js';

export interface LogsOptions {
  /** Go on with what is appended until the container stops, `until` passes or `signal` aborts. */
  follow: boolean;
  /** Only the last `tail` messages of those in the window (undefined: all). */
  tail?: number;
  /** Nanoseconds since the epoch: only the messages written from `since`, up to `until` (both included). */
  since?: bigint;
  until?: bigint;
  /**
   * Following: a container not started yet goes on (until it has started and ended), and
   * an empty batch comes first, once the file is open: run opens the follow before the
   * start, so that a container removed as soon as it ends (--rm) is still read.
   */
  waitStart?: boolean;
}

/** Caps of one batch (one stream message): its bytes and its messages; and a read's size. */
export const LOG_BATCH = { bytes: 1 << 20, messages: 1000, read: 1 << 16 };
/** How often a followed log is looked at again. */
const POLL_MS = 150;

/**
 * A container's CRI log (docker logs), as batches of messages: what one read of the file
 * gave, cut at the caps above. The caller takes the next batch when it has sent the last, so
 * a slow client holds the reading, not the daemon's memory. With `tail`, the file is read
 * twice up to where it ended at the start (once to count), never held whole.
 *
 * Following, the file is looked at every POLL_MS: the container's state is taken before a
 * read, so what it wrote as it ended comes with the last read. A log rotated by
 * ReopenContainerLog (another file at the path) is read to its end, then the new one from
 * its start. The file is closed however the iteration ends (the caller's return included).
 */
export function containerLogs(ctx: ContainerContext, id: string, o: LogsOptions, signal: AbortSignal): AsyncGenerator<LogMessage[]> {
  const c = ctx.mustGet(id);
  if (!c.logPath) throw failedPrecondition(`container ${c.id}: logs: it has no log file (no log path was given)`);
  // Gone (removed as it ended, run --rm): the follow ends after a last read of the open file.
  const running = async (): Promise<boolean> => {
    const now = ctx.deps.store.get(c.id);
    if (now === undefined) return false;
    const state = await refresh(ctx, now);
    return isRunning(state) || (o.waitStart === true && state.state === 'CREATED');
  };
  return named(`container ${c.id}: logs`, logMessages(c.logPath, o, signal, running));
}

/** `messages`, its failures under `prefix` (the container and the step), their codes kept. */
async function* named<T>(prefix: string, messages: AsyncGenerator<T>): AsyncGenerator<T> {
  try {
    yield* messages;
  } catch (err) {
    throw withContext(prefix, err);
  }
}

/** The log at `path` as containerLogs sends it; `running` says whether its writer goes on (following stops once it does not). */
export async function* logMessages(path: string, o: LogsOptions, signal: AbortSignal, running: () => Promise<boolean>): AsyncGenerator<LogMessage[]> {
  const inWindow = (m: LogMessage): boolean => (o.since === undefined || m.timeNanos >= o.since) && (o.until === undefined || m.timeNanos <= o.until);
  const log = new LogFile(path);
  try {
    await log.open();
    if (o.follow && o.waitStart) {
      // The promise of wait_start: what the container writes from its start is read.
      if (!log.isOpen()) throw failedPrecondition(`log file ${path} is not there: the container was not made with one (or it was removed)`);
      yield [];
    }
    const end = log.size();
    let skip = 0;
    if (o.tail !== undefined) {
      // With no message to show, nothing is counted; the read below still runs to `end`, to
      // follow on from there with a partial message in progress.
      let count = Infinity;
      if (o.tail > 0) {
        count = 0;
        for await (const ms of new LogFile(path).readOnce(end)) count += ms.filter(inWindow).length;
      }
      skip = Math.max(0, count - o.tail);
    }
    for await (const ms of log.read(end)) {
      const shown = ms.filter(inWindow);
      const skipped = Math.min(skip, shown.length);
      skip -= skipped;
      yield* batches(shown.slice(skipped));
    }
    if (!o.follow) return;
    for (;;) {
      const goesOn = await running();
      for await (const ms of log.read()) yield* batches(ms.filter(inWindow));
      if (!goesOn || signal.aborted) return;
      // Nothing after `until` would be sent: following stops there, as docker's.
      if (o.until !== undefined && BigInt(Date.now()) * 1_000_000n > o.until) return;
      await sleep(POLL_MS, signal);
      if (signal.aborted) return;
    }
  } finally {
    await log.close();
  }
}

/** `ms` cut at LOG_BATCH's caps. */
function* batches(ms: LogMessage[]): Generator<LogMessage[]> {
  let batch: LogMessage[] = [];
  let bytes = 0;
  for (const m of ms) {
    if (batch.length > 0 && (batch.length >= LOG_BATCH.messages || bytes + m.line.length > LOG_BATCH.bytes)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(m);
    bytes += m.line.length;
  }
  if (batch.length > 0) yield batch;
}

/** One log path, read on from where the last read stopped; reopened when another file is there. */
class LogFile {
  private fh: FileHandle | undefined;
  private ino = 0;
  private offset = 0;
  private fileSize = 0;
  private readonly parser = new CriLogParser();
  private readonly buf = Buffer.alloc(LOG_BATCH.read);

  constructor(private readonly path: string) {}

  /**
   * Opens the file if it is there (a container's log may not be made yet). The path is in a
   * directory kubelet gives, which a pod with a writable hostPath over it may fill: the daemon
   * (root) opens a regular file only, never through a symlink, and a FIFO without waiting on
   * it (O_NONBLOCK: a blocked open would hold a thread of libuv's pool for good).
   */
  async open(): Promise<void> {
    if (this.fh) return;
    let fh: FileHandle;
    try {
      fh = await open(this.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      if (isErrno(err, 'ELOOP')) throw failedPrecondition(`log file ${this.path} is a symlink: not followed`);
      throw err;
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw failedPrecondition(`log file ${this.path} is not a regular file`);
    }
    this.fh = fh;
    this.ino = st.ino;
    this.fileSize = st.size;
    this.offset = 0;
  }

  size(): number {
    return this.fileSize;
  }

  isOpen(): boolean {
    return this.fh !== undefined;
  }

  /** The messages from the last read's end up to `end` (or to the end of the file), a read at a time. */
  async *read(end = Infinity): AsyncGenerator<LogMessage[]> {
    await this.open();
    yield* this.readOpen(end);
    if (end !== Infinity) return;
    // Rotated: the old file has been read to its end above; the new one is read from its start.
    const now = await lstat(this.path).catch(() => undefined);
    if (!now || now.ino === this.ino) return;
    // conmon made the new file as it let the old one go: what it wrote to the old one last.
    yield* this.readOpen(Infinity);
    await this.close();
    this.parser.newFile();
    await this.open();
    yield* this.readOpen(Infinity);
  }

  /** A reader of its own: read once up to `end`, then closed. */
  async *readOnce(end: number): AsyncGenerator<LogMessage[]> {
    try {
      yield* this.read(end);
    } finally {
      await this.close();
    }
  }

  private async *readOpen(end: number): AsyncGenerator<LogMessage[]> {
    if (!this.fh) return;
    // Truncated under us (copytruncate): read again from its start, nothing of before kept.
    if ((await this.fh.stat()).size < this.offset) {
      this.offset = 0;
      this.parser.newFile();
    }
    while (this.offset < end) {
      const { bytesRead } = await this.fh.read(this.buf, 0, Math.min(this.buf.length, end - this.offset), this.offset);
      if (bytesRead === 0) return;
      this.offset += bytesRead;
      const ms = this.parser.push(this.buf.subarray(0, bytesRead));
      if (ms.length > 0) yield ms;
    }
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}

/** Resolves after `ms`, or at once when `signal` aborts; leaves no timer or listener behind. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
