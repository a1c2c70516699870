import { open } from 'node:fs/promises';
import type { CliClient, CliContainer } from './cli-client.js';
import { utcNanos } from './time-flag.js';

/** A message of the log: its stream, its text, and the time of its first part as written (RFC 3339). */
export interface LogLine {
  stream: 'stdout' | 'stderr';
  line: string;
  time: string;
}

/** The messages of a CRI log file: partial lines joined (and `firstTime` kept across calls as `pending` is), each line to its stream. */
export function criLogLines(text: string, pending = { stdout: '', stderr: '' }, firstTime = { stdout: '', stderr: '' }): LogLine[] {
  const out: LogLine[] = [];
  // A partial line goes on in the next line of the same stream, whatever comes between
  // (and across calls, when the caller keeps `pending`).
  for (const raw of text.split('\n')) {
    // `s`: a terminal's lines end in \r, which `.` would not take (the line was dropped).
    const m = /^(\S+) (stdout|stderr) (P|F) (.*)$/s.exec(raw);
    if (!m) continue;
    const stream = m[2] as 'stdout' | 'stderr';
    if (pending[stream] === '') firstTime[stream] = m[1]!;
    pending[stream] += m[4];
    if (m[3] === 'F') {
      out.push({ stream, line: pending[stream], time: firstTime[stream] || m[1]! });
      pending[stream] = '';
      firstTime[stream] = '';
    }
  }
  return out;
}

export interface LogsOptions {
  tail?: number | 'all';
  follow?: boolean;
  /** Nanoseconds since the epoch: only the lines written from `since`, up to `until`. */
  since?: bigint;
  until?: bigint;
  timestamps?: boolean;
}

/**
 * Prints a container's CRI log; with `follow`, what it appends until it ends (or `until`
 * passes). The file is read from where the last read stopped, whole lines at a time.
 */
export async function printLogs(c: CliContainer, opts: LogsOptions, client: CliClient): Promise<void> {
  let offset = 0;
  let carry = Buffer.alloc(0);
  const pending = { stdout: '', stderr: '' };
  const firstTime = { stdout: '', stderr: '' };
  const readNew = async (): Promise<LogLine[]> => {
    const fh = await open(c.logPath, 'r').catch(() => undefined);
    if (!fh) return [];
    try {
      const chunks: Buffer[] = [carry];
      for (;;) {
        const { bytesRead, buffer } = await fh.read({ buffer: Buffer.alloc(1 << 16), position: offset });
        if (bytesRead === 0) break;
        offset += bytesRead;
        chunks.push(buffer.subarray(0, bytesRead));
      }
      const all = Buffer.concat(chunks);
      const cut = all.lastIndexOf(0x0a) + 1;
      carry = all.subarray(cut);
      return criLogLines(all.subarray(0, cut).toString('utf8'), pending, firstTime).filter((l) => inWindow(utcNanos(l.time).ns, opts));
    } finally {
      await fh.close();
    }
  };
  const print = (lines: LogLine[]): void => {
    for (const l of lines) (l.stream === 'stdout' ? process.stdout : process.stderr).write(opts.timestamps ? `${utcNanos(l.time).text} ${l.line}\n` : `${l.line}\n`);
  };
  const first = await readNew();
  print(typeof opts.tail === 'number' ? first.slice(Math.max(0, first.length - opts.tail)) : first);
  if (!opts.follow) return;
  for (;;) {
    const now = await client.container(c.id, c.podId);
    // What it wrote as it ended comes with this read too.
    print(await readNew());
    if (!now || now.state !== 'running') return;
    // Nothing after --until will be printed: following stops there, as docker's.
    if (opts.until !== undefined && BigInt(Date.now()) * 1_000_000n > opts.until) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function inWindow(ns: bigint, o: LogsOptions): boolean {
  return (o.since === undefined || ns >= o.since) && (o.until === undefined || ns <= o.until);
}
