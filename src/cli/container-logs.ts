import type { Writable } from 'node:stream';
import { containerLogs } from './coracle-client.js';
import type { DaemonTarget } from './daemon-target.js';
import { utcNanos } from './time-flag.js';

export interface LogsOptions {
  tail?: number | 'all';
  follow?: boolean;
  /** Nanoseconds since the epoch: only the lines written from `since`, up to `until`. */
  since?: bigint;
  until?: bigint;
  timestamps?: boolean;
  /** Following a container not started yet (run): `onOpen` is called once the daemon holds its log open. */
  waitStart?: { onOpen: () => void };
}

/**
 * Prints a container's CRI log, as docker's logs: each line to the stream it was written to;
 * with `follow`, what it appends until it ends (or `until` passes). The daemon reads the file
 * (ContainerLogs), so this works where the file is out of reach, over tcp:// too.
 */
export async function printLogs(socket: DaemonTarget, containerId: string, opts: LogsOptions): Promise<void> {
  const tail = typeof opts.tail === 'number' ? opts.tail : undefined;
  const logs = containerLogs(socket, containerId, { follow: opts.follow === true, tail, since: opts.since, until: opts.until, waitStart: opts.waitStart !== undefined });
  for await (const batch of logs) {
    // The first, empty, with waitStart (ContainerLogs wait_start).
    if (batch.length === 0) opts.waitStart?.onOpen();
    for (const l of batch) {
      const out = l.stream === 'stdout' ? process.stdout : process.stderr;
      const stamp = opts.timestamps ? `${utcNanos(l.time).text} ` : '';
      if (!out.write(Buffer.concat([Buffer.from(stamp), l.line, NEWLINE]))) await drained(out);
    }
  }
}

const NEWLINE = Buffer.from('\n');

/** A slow reader of our output (a pipe) holds the stream, not this process's memory. */
function drained(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('error', done);
      resolve();
    };
    out.once('drain', done);
    out.once('error', done);
  });
}
