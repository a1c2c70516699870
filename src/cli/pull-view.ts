import { humanSize, shortId } from './format.js';

const LABELS: Record<string, string> = {
  exists: 'Already exists',
  waiting: 'Waiting',
  downloading: 'Downloading',
  extracting: 'Extracting',
  done: 'Pull complete',
};

/**
 * docker pull's per-layer display: on a terminal, one line per layer redrawn in place with
 * a progress bar while it downloads; otherwise a plain line each time a layer changes
 * status (no bars, no escape codes: fit for a log).
 */
export class PullView {
  private readonly layers = new Map<string, { status: string; current: number; total: number }>();
  private drawn = 0;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly tty: boolean,
  ) {}

  step(s: { layer: string; status: string; current: number; total: number }): void {
    const before = this.layers.get(s.layer);
    this.layers.set(s.layer, { status: s.status, current: s.current, total: s.total });
    if (this.tty) this.draw();
    else if (before?.status !== s.status) this.out.write(`${shortId(s.layer)}: ${LABELS[s.status] ?? s.status}\n`);
  }

  private draw(): void {
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const [layer, l] of this.layers) text += `\x1b[2K${shortId(layer)}: ${LABELS[l.status] ?? l.status}${l.status === 'downloading' ? ` ${bar(l.current, l.total)}` : ''}\n`;
    this.drawn = this.layers.size;
    this.out.write(text);
  }
}

export function bar(current: number, total: number, width = 40): string {
  const done = total > 0 ? Math.min(width, Math.floor((current / total) * width)) : 0;
  const arrow = done < width ? '>' : '';
  return `[${'='.repeat(done)}${arrow}${' '.repeat(width - done - arrow.length)}] ${humanSize(current)}/${humanSize(total)}`;
}
