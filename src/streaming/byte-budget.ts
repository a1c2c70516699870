/**
 * The streaming server's budget for received bytes not yet read, over all its connections
 * (each also has its own, `maxBufferedBytes`). A connection holding more than
 * CONNECTION_FLOOR is not read while the total is past the budget; below the floor it always
 * is, so that clients holding the whole budget slow the others down but never stop them.
 */
export class ByteBudget {
  private used = 0;
  private readonly watchers = new Set<() => void>();

  constructor(readonly max: number) {}

  get total(): number {
    return this.used;
  }

  get over(): boolean {
    return this.used > this.max;
  }

  add(delta: number): void {
    const wasOver = this.over;
    this.used += delta;
    if (wasOver && !this.over) for (const w of [...this.watchers]) w();
  }

  /** Calls `wake` each time the total falls back within the budget; returns the unsubscribe. */
  watch(wake: () => void): () => void {
    this.watchers.add(wake);
    return () => this.watchers.delete(wake);
  }
}

/** What a connection may hold whatever the daemon-wide total: one stream's high-water mark. */
export const CONNECTION_FLOOR = 256 << 10;
