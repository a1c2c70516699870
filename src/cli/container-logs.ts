import { open } from 'node:fs/promises';
import type { CliClient, CliContainer } from './cli-client.js';

/** The messages of a CRI log file: partial lines joined, each line to its stream. */
export function criLogLines(text: string, pending = { stdout: '', stderr: '' }): { stream: 'stdout' | 'stderr'; line: string }[] {
  const out: { stream: 'stdout' | 'stderr'; line: string }[] = [];
  // A partial line goes on in the next line of the same stream, whatever comes between
  // (and across calls, when the caller keeps `pending`).
  for (const raw of text.split('\n')) {
    // `s`: a terminal's lines end in \r, which `.` would not take (the line was dropped).
    const m = /^\S+ (stdout|stderr) (P|F) (.*)$/s.exec(raw);
    if (!m) continue;
    const stream = m[1] as 'stdout' | 'stderr';
    pending[stream] += m[3];
    if (m[2] === 'F') {
      out.push({ stream, line: pending[stream] });
      pending[stream] = '';
    }
  }
  return out;
}

/**
 * Prints a container's CRI log; with `follow`, what it appends until it ends. The file is
 * read from where the last read stopped, whole lines at a time.
 */
export async function printLogs(c: CliContainer, opts: { tail?: number | 'all'; follow?: boolean }, client: CliClient): Promise<void> {
  let offset = 0;
  let carry = Buffer.alloc(0);
  const pending = { stdout: '', stderr: '' };
  const readNew = async (): Promise<{ stream: 'stdout' | 'stderr'; line: string }[]> => {
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
      return criLogLines(all.subarray(0, cut).toString('utf8'), pending);
    } finally {
      await fh.close();
    }
  };
  const print = (lines: { stream: 'stdout' | 'stderr'; line: string }[]): void => {
    for (const l of lines) (l.stream === 'stdout' ? process.stdout : process.stderr).write(`${l.line}\n`);
  };
  const first = await readNew();
  print(typeof opts.tail === 'number' ? first.slice(Math.max(0, first.length - opts.tail)) : first);
  if (!opts.follow) return;
  for (;;) {
    const now = await client.container(c.id, c.podId);
    // What it wrote as it ended comes with this read too.
    print(await readNew());
    if (!now || now.state !== 'running') return;
    await new Promise((r) => setTimeout(r, 200));
  }
}
