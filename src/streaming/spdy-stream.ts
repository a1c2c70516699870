import { Duplex } from 'node:stream';
import { Inbound } from './inbound.js';
import { STREAM_HIGH_WATER_MARK, unreadStreamLimit, type StreamingLimits } from './limits.js';
import { RstStatus, type SpdyHeaders } from './spdy-frames.js';

/** A cap the peer ran into; the connection goes on (the server logs the first of each kind). */
export interface SpdyLimitEvent {
  kind: 'streams' | 'unread' | 'buffered' | 'total' | 'outbound';
  message: string;
}

/** What a stream needs of its connection (SpdySession): the frames it sends and the socket's flow. */
export interface StreamHost {
  readonly limits: StreamingLimits;
  /** Whether the connection holds its sources (between a 'hold' and a 'release'). */
  readonly holding: boolean;
  reply(stream: SpdyStream, headers: SpdyHeaders): void;
  reset(stream: SpdyStream, status: number): void;
  writeData(stream: SpdyStream, data: Buffer, fin: boolean, done: (err?: Error | null) => void): void;
  pauseFor(stream: SpdyStream): void;
  resumeFor(stream: SpdyStream): void;
  forget(stream: SpdyStream): void;
  /** What the stream's unread data is charged changed by `delta` bytes. */
  account(delta: number): void;
  limit(e: SpdyLimitEvent): void;
}

/**
 * One SPDY stream as a Duplex: reading gives the peer's data until its FIN, `end()` sends
 * ours. A reset or a lost connection ends both sides without an error event: for streaming
 * a vanished client is an ordinary end, and the session's 'close' says so. While the
 * connection holds too much its client has not read, every stream emits 'hold', then
 * 'release': a source feeding one stops reading in between (src/netns/port-dial.ts does).
 */
export class SpdyStream extends Duplex {
  /** @internal */
  localFinished = false;
  private remoteDone = false;
  private replied = false;
  /** What the peer sent and no reader took yet (the Readable itself holds nothing: its highWaterMark is 0). */
  private readonly inbound: Inbound;

  constructor(
    private readonly session: StreamHost,
    readonly id: number,
    readonly headers: SpdyHeaders,
  ) {
    // Nor does the writable side hold anything past the write in progress: write() answers
    // false at once, so that a piped source waits for that write's 'drain' (the connection
    // holds a write back while its client leaves too much unread; src/streaming/spdy-session.ts).
    super({ allowHalfOpen: true, readableHighWaterMark: 0, writableHighWaterMark: 0 });
    this.inbound = new Inbound(
      (chunk) => this.push(chunk),
      (delta) => session.account(delta),
    );
  }

  /** Whether a source feeding this stream should not read now: a source that starts after a 'hold' learns it here. */
  get holding(): boolean {
    return this.session.holding;
  }

  /** What this stream's unread data is charged (src/streaming/inbound.ts). */
  get unreadCost(): number {
    return this.inbound.cost;
  }

  /** Accepts a stream the peer opened. */
  reply(headers: SpdyHeaders = {}): void {
    if (this.replied) return;
    this.replied = true;
    this.session.reply(this, headers);
  }

  reset(status: number = RstStatus.CANCEL): void {
    if (this.localFinished && this.remoteDone) return;
    this.localFinished = true;
    this.session.reset(this, status);
    this.endRead();
    this.dropUnread();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.localFinished) return done();
    this.session.writeData(this, chunk, false, done);
  }

  override _final(done: (err?: Error | null) => void): void {
    if (this.localFinished) return done();
    this.localFinished = true;
    this.session.writeData(this, Buffer.alloc(0), true, done);
    if (this.remoteDone) this.session.forget(this);
  }

  override _read(): void {
    this.inbound.want();
    if (this.inbound.cost <= STREAM_HIGH_WATER_MARK) this.session.resumeFor(this);
  }

  /** @internal */
  receive(data: Buffer): void {
    if (this.remoteDone) return;
    this.inbound.feed(data);
    // Only a stream someone reads (or has paused, or has read: a pipe paused for its
    // destination) may hold the connection up: a client may write stdin while it is still
    // opening its other streams (client-go does not, but nothing forbids it), and those must
    // get through. A stream nobody has touched yet buffers up to its own cap, and is reset
    // past it, its bytes dropped.
    if (this.readableFlowing !== null) {
      if (this.inbound.cost > STREAM_HIGH_WATER_MARK) this.session.pauseFor(this);
    } else if (this.inbound.cost > unreadStreamLimit(this.session.limits)) {
      this.session.limit({ kind: 'unread', message: `stream ${this.id} reset: more than ${unreadStreamLimit(this.session.limits)} bytes nobody read` });
      this.reset(RstStatus.CANCEL);
    }
  }

  /** @internal */
  remoteFinished(): void {
    this.endRead();
    if (this.localFinished) this.session.forget(this);
  }

  /** @internal */
  wasReset(): void {
    this.localFinished = true;
    this.endRead();
    this.dropUnread();
    this.session.forget(this);
  }

  /** @internal: the connection is gone; what no reader took is dropped, and readers see the end. */
  connectionClosed(): void {
    this.localFinished = true;
    this.endRead();
    this.inbound.drop();
  }

  /**
   * A reset stream nobody is reading is drained: what it holds is dropped at once (not kept
   * for a reader that may not come, against the connection's budget), and a reader that
   * does come sees its end.
   */
  private dropUnread(): void {
    if (this.readableFlowing === true) return;
    this.inbound.drop();
    if (this.readableFlowing === null) this.resume();
  }

  private endRead(): void {
    if (this.remoteDone) return;
    this.remoteDone = true;
    this.inbound.end();
  }
}
