/**
 * One stream of a server-side HTTP/2 connection (h2-connection.ts): the request's header
 * list and body as they arrive, and the response (headers, DATA under the peer's flow-control
 * windows, trailers) as the consumer sends it.
 */
import { CANCEL, DATA, frameHeader, headerFrames, NO_ERROR, wholeResponse } from './h2-frames.js';

export interface HeaderField {
  name: string;
  value: string;
}

/** What a stream needs of its connection. */
export interface StreamSink {
  /** Queues frames for the socket; they leave together at the end of the read being handled, or of the event loop's turn (h2-connection.ts read). */
  send(frames: Buffer[]): void;
  /** A header list encoded (HPACK) as one block. */
  encodeHeaders(fields: readonly HeaderField[]): Buffer;
  /** The bytes the connection's send window lets `want` DATA bytes take now (taken from it). */
  takeConnectionWindow(want: number): number;
  /** Whether the connection's send window lets all `n` DATA bytes go now (then taken from it; else none is). */
  takeWholeConnectionWindow(n: number): boolean;
  /** The peer's SETTINGS_MAX_FRAME_SIZE. */
  readonly maxFrame: number;
  /** Gives back `n` received bytes of `stream` to the peer's window (WINDOW_UPDATE). */
  credit(stream: H2Stream, n: number): void;
  /** Sends RST_STREAM and forgets the stream. */
  reset(stream: H2Stream, code: number): void;
  /** The stream is done (both sides ended, or reset): forgotten. */
  closed(stream: H2Stream): void;
}

/** The listeners' default, shared: a stream or call is made per request. */
const noop = (): void => {};

/** A stream with more than this queued for sending says so (write returns false) until it drains. */
const HIGH_WATER = 1 << 20;

export class H2Stream {
  /** Request body bytes, as they arrive (set by the consumer when the stream is given to it). */
  onData: (chunk: Buffer) => void = noop;
  /** The peer ended its side (END_STREAM). */
  onEnd: () => void = noop;
  /** The stream was reset by the peer, or its connection went away, before it was done. */
  onAbort: () => void = noop;
  /** The queued response data fell under the high-water mark again. */
  onDrain: () => void = noop;

  remoteEnded = false;
  private localEnded = false;
  private done = false;
  private headersSent = false;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private trailers: readonly HeaderField[] | undefined;

  constructor(
    private readonly sink: StreamSink,
    readonly id: number,
    readonly headers: readonly HeaderField[],
    /** The peer's window for this stream's DATA. */
    public sendWindow: number,
  ) {}

  /** Whether the stream is over (ended both ways, reset, or its connection gone). */
  get finished(): boolean {
    return this.done;
  }

  /** Whether the response headers have gone (or the whole response, trailers-only). */
  get responded(): boolean {
    return this.headersSent;
  }

  /** The first value of a request header, if the client sent it. */
  header(name: string): string | undefined {
    for (const h of this.headers) if (h.name === name) return h.value;
    return undefined;
  }

  /** Sends the response headers; with `endStream`, they are the whole response (trailers-only). */
  respond(fields: readonly HeaderField[], endStream = false): void {
    if (this.done || this.headersSent) return;
    this.headersSent = true;
    this.sink.send(this.headerFrames(fields, endStream));
    if (endStream) this.endedLocally();
  }

  /**
   * The whole response at once, in one buffer: `fields`, the `data` pieces as one DATA frame,
   * then `trailers`; a unary answer's usual case. It is sent only where nothing was sent
   * before and the frame size and both windows let all of `data` go now; false, and nothing
   * sent, otherwise (the caller then sends it piece by piece).
   */
  respondWhole(fields: readonly HeaderField[], data: readonly Buffer[], trailers: readonly HeaderField[]): boolean {
    if (this.done || this.headersSent || this.queued > 0 || this.trailers) return false;
    let size = 0;
    for (const d of data) size += d.length;
    const head = this.sink.encodeHeaders(fields);
    const tail = this.sink.encodeHeaders(trailers);
    const max = this.sink.maxFrame;
    if (size > this.sendWindow || size > max || head.length > max || tail.length > max || !this.sink.takeWholeConnectionWindow(size)) return false;
    this.headersSent = true;
    this.sendWindow -= size;
    this.sink.send([wholeResponse(this.id, head, data, size, tail)]);
    this.endedLocally();
    return true;
  }

  /**
   * Queues response bytes (the pieces of one message go out together, in as few DATA frames as
   * the windows allow); false once more than the high-water mark waits for the peer's window.
   */
  write(...data: Buffer[]): boolean {
    if (this.done || this.localEnded || this.trailers) return false;
    for (const d of data) {
      if (d.length === 0) continue;
      this.queue.push(d);
      this.queued += d.length;
    }
    this.flush();
    return this.queued < HIGH_WATER;
  }

  /** Ends the response with `trailers`, once the data queued before them has gone. */
  end(trailers: readonly HeaderField[]): void {
    if (this.done || this.localEnded || this.trailers) return;
    this.trailers = trailers;
    this.flush();
  }

  /** Sends what the windows let through: DATA, then the trailers once nothing is queued. */
  flush(): void {
    if (this.done) return;
    const frames: Buffer[] = [];
    while (this.queued > 0 && this.sendWindow > 0) {
      const want = Math.min(this.queued, this.sendWindow, this.sink.maxFrame);
      const n = this.sink.takeConnectionWindow(want);
      if (n === 0) break;
      const parts: Buffer[] = [];
      for (let left = n; left > 0; ) {
        const head = this.queue[0]!;
        if (head.length <= left) {
          parts.push(head);
          this.queue.shift();
          left -= head.length;
        } else {
          parts.push(head.subarray(0, left));
          this.queue[0] = head.subarray(left);
          left = 0;
        }
      }
      this.queued -= n;
      this.sendWindow -= n;
      frames.push(frameHeader(n, DATA, 0, this.id), ...parts);
    }
    if (this.queued === 0 && this.trailers) {
      frames.push(...this.headerFrames(this.trailers, true));
      this.trailers = undefined;
      this.sink.send(frames);
      this.endedLocally();
      return;
    }
    if (frames.length > 0) this.sink.send(frames);
    if (frames.length > 0 && this.queued < HIGH_WATER) this.onDrain();
  }

  /** The peer's bytes of this stream have been used: its window for them is given back. */
  consumed(n: number): void {
    if (!this.done && !this.remoteEnded && n > 0) this.sink.credit(this, n);
  }

  /** Resets the stream (CANCEL by default): nothing more is sent or delivered. */
  cancel(code = CANCEL): void {
    if (this.done) return;
    this.sink.reset(this, code);
    this.abort();
  }

  /** From the connection: the peer ended its side. */
  remoteEnd(): void {
    if (this.remoteEnded) return;
    this.remoteEnded = true;
    this.onEnd();
    if (this.localEnded) this.close();
  }

  /** From the connection: the peer reset the stream or the connection went away. */
  abort(): void {
    if (this.done) return;
    this.close();
    this.onAbort();
  }

  private headerFrames(fields: readonly HeaderField[], endStream: boolean): Buffer[] {
    return headerFrames(this.id, endStream, this.sink.encodeHeaders(fields), this.sink.maxFrame);
  }

  private endedLocally(): void {
    this.localEnded = true;
    this.queue.length = 0;
    this.queued = 0;
    if (this.remoteEnded) {
      this.close();
      return;
    }
    // The response is whole before the request: the peer is told to stop sending (RFC 9113 8.1).
    this.sink.reset(this, NO_ERROR);
    this.close();
  }

  private close(): void {
    if (this.done) return;
    this.done = true;
    this.queue.length = 0;
    this.queued = 0;
    this.sink.closed(this);
  }
}
