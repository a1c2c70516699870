/**
 * The frames an HTTP/2 connection (h2-connection.ts) has queued for its socket, and when they
 * are written: each flush is one write where it can be, so that a client is woken once for
 * what one turn of the event loop answered.
 */
import type { Duplex } from 'node:stream';

/** What is queued for the socket up to this size leaves as one buffer (one write); more, as a writev of the pieces. */
const JOIN_BELOW = 64 * 1024;

/** Bytes written and not yet taken by the client past this (a client that sends and never reads) end the connection. */
const MAX_UNSENT = 64 * 1024 * 1024;

export class FrameOutput {
  private out: Buffer[] = [];
  /** A flush is queued at setImmediate. */
  private queued = false;
  /** Between hold() and release(): what is sent waits for release. */
  private held = false;

  constructor(private readonly socket: Duplex) {}

  /**
   * Queues frames. Unless held, they are written once the loop's I/O and the promise jobs it
   * began are done: with whatever else is queued by then.
   */
  send(frames: readonly Buffer[]): void {
    if (!this.held) this.flushSoon();
    for (const f of frames) this.out.push(f);
  }

  /** What is sent from now on waits for release(). */
  hold(): void {
    this.held = true;
  }

  /** Ends a hold: what it queued is written now, or, with `later`, as send() would. */
  release(later: boolean): void {
    this.held = false;
    if (this.out.length === 0) return;
    if (later) this.flushSoon();
    else this.flush();
  }

  /** Writes what is queued, now. */
  flush(): void {
    // Ended: a frame queued since (a PING's ACK) would fail the socket and lose what it still holds.
    if (this.out.length === 0 || this.socket.destroyed || this.socket.writableEnded) {
      this.out = [];
      return;
    }
    const out = this.out;
    this.out = [];
    let size = 0;
    for (const b of out) size += b.length;
    if (out.length === 1) this.socket.write(out[0]!);
    else if (size <= JOIN_BELOW) this.socket.write(Buffer.concat(out, size));
    else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    }
    if (this.socket.writableLength > MAX_UNSENT) this.socket.destroy();
  }

  /** Drops what is queued (the socket has closed). */
  clear(): void {
    this.out = [];
  }

  private flushSoon(): void {
    if (this.queued) return;
    this.queued = true;
    setImmediate(this.flushQueued);
  }

  private readonly flushQueued = (): void => {
    this.queued = false;
    this.flush();
  };
}
