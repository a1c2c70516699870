/**
 * One gRPC call over an HTTP/2 stream (util/h2-stream.ts), as the PROTOCOL-HTTP2 document of
 * grpc/grpc describes it: length-prefixed messages both ways, the status in trailers (or
 * trailers only, for a call that fails before it answers), grpc-timeout as the deadline.
 */
import type { Deadline, Deadlines } from '../util/deadlines.js';
import { putUint32, uint32At } from '../util/h2-frames.js';
import type { H2Stream, HeaderField } from '../util/h2-stream.js';
import { grpcMessage, Status, timeoutMs, type RpcStatus } from './grpc-status.js';

export interface MethodCodec {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(value: unknown): Buffer;
}

export interface CallLimits {
  maxReceiveMessageBytes: number;
  maxSendMessageBytes: number;
}

// Frozen: the connection encodes them once (h2-connection.ts).
const RESPONSE_HEADERS: readonly HeaderField[] = Object.freeze([
  { name: ':status', value: '200' },
  { name: 'content-type', value: 'application/grpc' },
]);
const OK_TRAILERS: readonly HeaderField[] = Object.freeze([{ name: 'grpc-status', value: '0' }]);
/** The listeners' default, shared: a stream or call is made per request. */
const noop = (): void => {};

const PREFIX = 5;
/** The prefix of a whole answer, which respondWhole copies before it returns: one for every call. */
const WHOLE_PREFIX = Buffer.alloc(PREFIX);

/** gRPC's length prefix of the message `bytes`: not compressed, then its length. */
function prefixOf(bytes: Buffer, into = Buffer.allocUnsafe(PREFIX)): Buffer {
  into[0] = 0;
  putUint32(into, 1, bytes.length);
  return into;
}

/** The status fields of a call that ends in `status`. */
function statusFields(status: RpcStatus): HeaderField[] {
  return [
    { name: 'grpc-status', value: String(status.code) },
    { name: 'grpc-message', value: grpcMessage(status.details) },
  ];
}

/**
 * A call as its handler sees it. The request messages come through `onMessage` (deframed,
 * decoded) and `onHalfClose`; the handler answers with `write` and `end`.
 */
export class RpcCall {
  /**
   * Each request message, decoded, with its size on the wire: the client may send that much
   * more once the handler has taken it (`consumed`).
   */
  onMessage: (message: unknown, bytes: number) => void = noop;
  /** The client has sent its last message. */
  onHalfClose: () => void = noop;
  /** The call is over (ended or cancelled): once. */
  onOver: () => void = noop;
  private readonly cancelListeners: (() => void)[] = [];
  private readonly drainListeners: (() => void)[] = [];
  private ended = false;
  private isCancelled = false;
  private deadline: Deadline | undefined;
  /** Request bytes not yet a whole message. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes of messages handed on and not yet taken by the handler (`consumed`). */
  private held = 0;
  /** Request bytes received whose window has not been given back. */
  private uncredited = 0;

  constructor(
    private readonly stream: H2Stream,
    readonly method: MethodCodec,
    private readonly limits: CallLimits,
    private readonly deadlines: Deadlines,
  ) {
    stream.onData = (chunk) => this.data(chunk);
    stream.onEnd = () => {
      if (this.ended) return;
      if (this.pendingBytes > 0) this.abandon({ code: Status.INTERNAL, details: `${method.path}: the request ended inside a message` });
      else this.onHalfClose();
    };
    stream.onAbort = () => this.cancel();
    stream.onDrain = () => {
      for (const l of this.drainListeners.splice(0)) l();
    };
    const ms = timeoutMs(stream.header('grpc-timeout'));
    if (ms !== undefined) {
      this.deadline = deadlines.add(ms, () => this.abandon({ code: Status.DEADLINE_EXCEEDED, details: `${method.path}: deadline exceeded` }));
    }
  }

  get cancelled(): boolean {
    return this.isCancelled;
  }

  /** Whether the call is over: ended (answered or failed) or cancelled. */
  get over(): boolean {
    return this.ended || this.isCancelled;
  }

  /** The first value of a request header (gRPC metadata), if the client sent it. */
  metadata(key: string): string | undefined {
    return this.stream.header(key);
  }

  /**
   * `listener` runs once if the client cancels or resets, its deadline passes, the connection
   * goes, or the call is ended for a request it cannot read (abandon).
   */
  onCancel(listener: () => void): void {
    this.cancelListeners.push(listener);
  }

  /** Resolves once the queued response bytes have fallen under the stream's high-water mark, or the call is over. */
  drained(): Promise<void> {
    if (this.over) return Promise.resolve();
    return new Promise((resolve) => this.drainListeners.push(resolve));
  }

  /** `bytes` of request messages have been taken by the handler. */
  consumed(bytes: number): void {
    this.held -= bytes;
    this.release();
  }

  /**
   * The client's window is given back for what it sent once no message waits for the handler:
   * a message larger than the window still arrives whole (its size is capped on its own), and a
   * handler slower than its client holds the client back.
   */
  private release(): void {
    if (this.held > 0 || this.uncredited === 0) return;
    this.stream.consumed(this.uncredited);
    this.uncredited = 0;
  }

  /** Sends the response headers now (a streaming handler that is under way says so). */
  sendHeaders(): void {
    if (this.over) return;
    this.stream.respond(RESPONSE_HEADERS);
  }

  /** Queues one response message; false when the client should be let to catch up (see drained). */
  write(message: unknown): boolean {
    if (this.over) return false;
    const bytes = this.serialize(message);
    return bytes ? this.send(bytes) : false;
  }

  /**
   * Ends the call: OK, after `last` for a unary answer, or the failure `status`. A unary
   * answer whose message the windows let go now leaves whole, headers to trailers, in one
   * buffer (H2Stream.respondWhole).
   */
  end(status: RpcStatus | null, last?: unknown): void {
    if (this.over) return;
    if (status === null && last !== undefined) {
      const bytes = this.serialize(last);
      if (!bytes) return;
      if (this.stream.respondWhole(RESPONSE_HEADERS, [prefixOf(bytes, WHOLE_PREFIX), bytes], OK_TRAILERS)) return this.ending();
      this.send(bytes);
    }
    this.ending();
    const trailers = status === null ? OK_TRAILERS : statusFields(status);
    // Nothing sent yet (a failure, or a stream that ends with no message): trailers only.
    if (!this.stream.responded) this.stream.respond([...RESPONSE_HEADERS, ...trailers], true);
    else this.stream.end(trailers);
  }

  /** The call is over, its last frames queued: no deadline, no writer waits. */
  private ending(): void {
    this.ended = true;
    this.deadlines.clear(this.deadline);
    for (const l of this.drainListeners.splice(0)) l();
    this.onOver();
  }

  /** Queues a serialized message after the headers; false when the client should be let to catch up. */
  private send(bytes: Buffer): boolean {
    this.sendHeaders();
    return this.stream.write(prefixOf(bytes), bytes);
  }

  /** A response message's bytes; none, and the call ended, when they are over the size allowed. */
  private serialize(message: unknown): Buffer | undefined {
    const bytes = this.method.responseSerialize(message);
    if (bytes.length <= this.limits.maxSendMessageBytes) return bytes;
    this.end({ code: Status.RESOURCE_EXHAUSTED, details: `${this.method.path}: response message of ${bytes.length} bytes, over the ${this.limits.maxSendMessageBytes} allowed` });
    return undefined;
  }

  /**
   * Ends the call with `status` on the server's side (its deadline, a request it cannot read)
   * and tells the handler as a cancel would: one still reading the request's messages, or
   * holding a signal, stops instead of waiting for what will not come.
   */
  private abandon(status: RpcStatus): void {
    this.end(status);
    this.cancel();
  }

  private cancel(): void {
    if (this.isCancelled) return;
    const wasOver = this.ended;
    this.isCancelled = true;
    this.deadlines.clear(this.deadline);
    if (!this.stream.finished) this.stream.cancel();
    for (const l of this.drainListeners.splice(0)) l();
    for (const l of this.cancelListeners.splice(0)) l();
    if (!wasOver) this.onOver();
  }

  /** Request bytes: whole messages are decoded and handed on. */
  private data(chunk: Buffer): void {
    if (this.over) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.uncredited += chunk.length;
    this.deframe();
    this.release();
  }

  private deframe(): void {
    while (this.pendingBytes >= PREFIX) {
      const head = this.peek(PREFIX);
      // Unsigned: a length with its top bit set is over every limit, not negative.
      const length = uint32At(head, 1);
      if (head[0] !== 0) {
        this.abandon({ code: Status.UNIMPLEMENTED, details: `${this.method.path}: compressed request messages are not supported` });
        return;
      }
      if (length > this.limits.maxReceiveMessageBytes) {
        this.abandon({ code: Status.RESOURCE_EXHAUSTED, details: `${this.method.path}: request message of ${length} bytes, over the ${this.limits.maxReceiveMessageBytes} allowed` });
        return;
      }
      if (this.pendingBytes < PREFIX + length) return;
      const body = this.peek(PREFIX + length).subarray(PREFIX);
      this.skip(PREFIX + length);
      let message: unknown;
      try {
        message = this.method.requestDeserialize(body);
      } catch (err) {
        this.abandon({ code: Status.INTERNAL, details: `${this.method.path}: the request message does not decode: ${(err as Error).message}` });
        return;
      }
      this.held += PREFIX + length;
      this.onMessage(message, PREFIX + length);
      if (this.over) return;
    }
  }

  /** The first `n` pending bytes as one buffer (joined only when they span chunks). */
  private peek(n: number): Buffer {
    if (this.pending[0]!.length < n) this.pending = [Buffer.concat(this.pending)];
    return this.pending[0]!.subarray(0, n);
  }

  private skip(n: number): void {
    const first = this.pending[0]!;
    if (first.length === n) this.pending.shift();
    else this.pending[0] = first.subarray(n);
    this.pendingBytes -= n;
  }
}
