import type { Socket } from 'node:net';
import { CONNECTION_FLOOR, type ByteBudget } from './byte-budget.js';
import { PIECE_OVERHEAD } from './inbound.js';

/**
 * What one connection has handed its socket for the client and the socket has not yet passed
 * to the kernel: bytes the daemon holds for a client, for as long as that client does not read.
 *
 * Each write is charged (its bytes, plus PIECE_OVERHEAD for its objects) to the connection
 * and to the daemon-wide budget until the socket has flushed it. A writer gets its `done`
 * once the socket is under its high-water mark and the connection is not holding; a writer
 * that waits for `done` (a stream's write in progress; the stream's source is paused behind
 * it) holds one write at most.
 *
 * That alone would still let a client multiply what is held by the number of its streams:
 * every source feeding a stream may read once more before its write finds the connection
 * full. So past the connection's cap (`max`), or past CONNECTION_FLOOR while all connections
 * together are past the daemon-wide budget, the connection holds: `onHold(true)` tells every
 * stream's source to stop reading before it reads, and the session refuses new streams.
 * It lets go at half the cap, so that a connection at its cap does not stop and start every
 * source on every write.
 */
export class Outbound {
  /** Charged bytes: what the socket holds of ours, with each write's overhead. */
  private cost = 0;
  /** Bytes of data frames in the socket's queue (the rest of its queue is control frames). */
  private bytes = 0;
  private holding = false;
  private closed = false;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly socket: Socket,
    private readonly max: number,
    private readonly budget: ByteBudget,
    private readonly onHold: (hold: boolean) => void,
  ) {}

  /** Whether the connection holds its sources (new streams start held too). */
  get isHolding(): boolean {
    return this.holding;
  }

  /** Bytes of data frames queued in the socket. */
  get queued(): number {
    return this.bytes;
  }

  /** Writes the frames `parts` make; `done` once the connection has room for more. */
  write(parts: Buffer[], done: () => void): void {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) {
      done();
      return;
    }
    const bytes = parts.reduce((n, p) => n + p.length, 0);
    const cost = bytes + PIECE_OVERHEAD;
    let refunded = false;
    const refund = (): void => {
      if (refunded || this.closed) return;
      refunded = true;
      this.charge(-cost, -bytes);
    };
    this.charge(cost, bytes);
    this.socket.cork();
    let ok = true;
    parts.forEach((p, i) => (ok = this.socket.write(p, i === parts.length - 1 ? refund : undefined)));
    this.socket.uncork();
    if (ok && !this.holding) done();
    else this.waiting.push(done);
  }

  /** Re-checks the caps; lets the waiting writers go on when there is room. Called on 'drain' and when the daemon-wide total falls. */
  update(): void {
    if (this.closed) return;
    const overTotal = this.cost > CONNECTION_FLOOR && this.budget.over;
    if (!this.holding && (this.cost > this.max || overTotal)) {
      this.holding = true;
      this.onHold(true);
    } else if (this.holding && this.cost <= this.max / 2 && !overTotal) {
      this.holding = false;
      this.onHold(false);
    }
    if (this.holding || this.socket.writableNeedDrain || this.waiting.length === 0) return;
    for (const done of this.waiting.splice(0)) done();
  }

  /** The connection is gone: nothing is held any more, and every waiting writer goes on. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.budget.add(-this.cost);
    this.cost = 0;
    this.bytes = 0;
    for (const done of this.waiting.splice(0)) done();
  }

  private charge(cost: number, bytes: number): void {
    this.cost += cost;
    this.bytes += bytes;
    this.budget.add(cost);
    this.update();
  }
}
