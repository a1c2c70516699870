/**
 * The unary calls the RPC server has begun, and those under way. Background work that can
 * wait (the deletion of removed image layers, image/remove-tree.ts) waits for a moment with
 * none under way and none begun, so that it does not take a core from calls that come back
 * to back (containerd's garbage collection keeps to 2% of the time for a like reason): on 2
 * cores, critest's 20 ListImages calls right after its image benchmark's removals took 0.236
 * ms (p50, median of 8 runs) with the layers' rm begun 20 ms after the last removal, and
 * 0.200 with it begun once the benchmark was over. Streaming calls (logs, events, a pull's
 * progress) are not counted: they may stay open for as long as the daemon runs.
 */
export class CallCount {
  private begunCount = 0;
  private under = 0;

  /** A call begins. */
  begun(): void {
    this.begunCount++;
    this.under++;
  }

  /** A call begun has ended (answered, failed or cancelled). */
  ended(): void {
    this.under--;
  }

  /** The calls begun so far. */
  get started(): number {
    return this.begunCount;
  }

  /** The calls begun and not yet ended. */
  get underWay(): number {
    return this.under;
  }
}
