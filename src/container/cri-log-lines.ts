import { rfc3339Nanos } from '../util/rfc3339.js';

/** A message of a CRI log: its stream, its bytes (a log need not be UTF-8), and the time of its first part as written. */
export interface LogMessage {
  stream: 'stdout' | 'stderr';
  line: Buffer;
  /** RFC 3339, as the log has it. */
  time: string;
  /** The same in nanoseconds since the epoch; 0 when it is no time. */
  timeNanos: bigint;
}

/**
 * The longest message kept whole: a longer one (partial lines of one stream that never end)
 * is sent in pieces of this size, and a raw line longer than this and its header is dropped.
 */
export const MAX_MESSAGE_BYTES = 1 << 20;
const MAX_RAW_LINE = MAX_MESSAGE_BYTES + 256;

type Stream = LogMessage['stream'];

/**
 * The messages of a CRI log (`<time> <stream> <P|F>[:tags] <bytes>` per line), as the file is
 * read in pieces: partial lines (P) are joined with the next ones of the same stream, whatever
 * comes between and across pieces, and a message has the time of its first part. What follows
 * the last newline of a piece waits for the next piece. Lines that are no log lines are skipped.
 */
export class CriLogParser {
  private carry: Buffer = Buffer.alloc(0);
  /** Skipping what is left of a raw line that was too long, up to its newline. */
  private skipping = false;
  private readonly pending: Record<Stream, { parts: Buffer[]; bytes: number; time: string }> = {
    stdout: { parts: [], bytes: 0, time: '' },
    stderr: { parts: [], bytes: 0, time: '' },
  };

  /** The messages `data` completes. */
  push(data: Buffer): LogMessage[] {
    const out: LogMessage[] = [];
    let start = 0;
    for (let nl = data.indexOf(0x0a); nl !== -1; start = nl + 1, nl = data.indexOf(0x0a, start)) {
      const piece = data.subarray(start, nl);
      if (this.skipping) {
        this.skipping = false;
        this.carry = Buffer.alloc(0);
        continue;
      }
      const raw = this.carry.length > 0 ? Buffer.concat([this.carry, piece]) : piece;
      this.carry = Buffer.alloc(0);
      this.line(raw, out);
    }
    if (!this.skipping) {
      const rest = data.subarray(start);
      // A copy: `data` is the reader's buffer, used again for its next read.
      this.carry = rest.length === 0 ? this.carry : Buffer.concat([this.carry, rest]);
      if (this.carry.length > MAX_RAW_LINE) {
        this.carry = Buffer.alloc(0);
        this.skipping = true;
      }
    }
    return out;
  }

  /** A new file (the log rotated): a raw line cut at the old one's end is dropped; partial messages go on. */
  newFile(): void {
    this.carry = Buffer.alloc(0);
    this.skipping = false;
  }

  private line(raw: Buffer, out: LogMessage[]): void {
    const sp1 = raw.indexOf(0x20);
    const sp2 = sp1 < 1 ? -1 : raw.indexOf(0x20, sp1 + 1);
    const sp3 = sp2 === -1 ? -1 : raw.indexOf(0x20, sp2 + 1);
    if (sp3 === -1) return;
    const stream = raw.toString('latin1', sp1 + 1, sp2);
    if (stream !== 'stdout' && stream !== 'stderr') return;
    const tag = raw.toString('latin1', sp2 + 1, sp3).split(':')[0];
    if (tag !== 'P' && tag !== 'F') return;
    const time = raw.toString('latin1', 0, sp1);
    if (/\s/.test(time)) return;
    const p = this.pending[stream];
    if (p.parts.length === 0) p.time = time;
    // A copy: `raw` may be a view of the reader's buffer.
    const content = Buffer.from(raw.subarray(sp3 + 1));
    p.parts.push(content);
    p.bytes += content.length;
    if (tag === 'F' || p.bytes >= MAX_MESSAGE_BYTES) {
      const all = p.parts.length === 1 ? p.parts[0]! : Buffer.concat(p.parts);
      for (let off = 0; ; off += MAX_MESSAGE_BYTES) {
        const rest = all.length - off;
        // A piece of a message that goes on stays pending, whole lines are sent.
        if (tag === 'P' && rest < MAX_MESSAGE_BYTES) {
          p.parts = rest > 0 ? [all.subarray(off)] : [];
          p.bytes = rest;
          if (rest === 0) p.time = '';
          return;
        }
        out.push({ stream, line: all.subarray(off, off + MAX_MESSAGE_BYTES), time: p.time, timeNanos: rfc3339Nanos(p.time) ?? 0n });
        if (rest <= MAX_MESSAGE_BYTES) break;
      }
      p.parts = [];
      p.bytes = 0;
      p.time = '';
    }
  }
}

/** The messages of a whole CRI log's text. */
export function criLogLines(text: Buffer | string): LogMessage[] {
  return new CriLogParser().push(Buffer.isBuffer(text) ? text : Buffer.from(text));
}
