/**
 * The server side of one HTTP/2 connection (RFC 9113), as much of the protocol as a gRPC
 * server needs: streams opened by the client, header blocks decoded with HPACK, DATA under
 * flow control both ways, SETTINGS, PING, RST_STREAM, WINDOW_UPDATE and GOAWAY. No server
 * push, no priorities (ignored), and any `:authority` (kubelet up to 1.26 sends its socket
 * path there, which nghttp2 refuses).
 *
 * Written by hand, not Node's http2 module: a unary call through Node's HTTP/2 server (nghttp2,
 * then a JavaScript stream object per request) took 0.19 ms back to back and 0.36-0.45 ms
 * after a 100 ms idle gap here, against 0.10 and 0.20 ms for the same answer framed over the
 * net.Socket directly, and containerd's 0.13 and 0.24-0.31 (docs/benchmarks.md).
 */
import type { Duplex } from 'node:stream';
import { ACK, CONTINUATION, DATA, DEFAULT_MAX_FRAME, DEFAULT_WINDOW, END_HEADERS, END_STREAM, ENHANCE_YOUR_CALM, FLOW_CONTROL_ERROR, frame, frame32, FRAME_SIZE_ERROR,
  FrameReader, GOAWAY, HEADERS, MAX_WINDOW, NO_ERROR, PING, PROTOCOL_ERROR, ProtocolError, PUSH_PROMISE, REFUSED_STREAM, RST_STREAM, SETTINGS, settingsFrame,
  SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_MAX_FRAME_SIZE, SETTINGS_MAX_HEADER_LIST_SIZE, STREAM_CLOSED, uint32At, unpadded, WINDOW_UPDATE,
  type Frame } from './h2-frames.js';
import { H2Stream, type HeaderField, type StreamSink } from './h2-stream.js';
import { encodeHeaderBlock, HeaderBlockDecoder, MAX_HEADER_LIST } from './hpack-block.js';
import { malformed } from './h2-request-check.js';
import { FrameOutput } from './h2-output.js';

export interface H2ConnectionOptions {
  /** A request: its header list decoded, its body to come on the stream. */
  onStream(stream: H2Stream): void;
  /** The client broke the protocol; the connection is closed. */
  onProtocolError?(err: Error): void;
  /** Streams open at once; more are refused (REFUSED_STREAM, which clients retry). */
  maxConcurrentStreams?: number;
  /** This side's window for each stream's request bytes. */
  streamWindow?: number;
  /** This side's window for the request bytes of all streams. */
  connectionWindow?: number;
  /** A client that has sent no frame by then is closed. */
  prefaceTimeoutMs?: number;
}

/** Header blocks of frozen field lists, encoded once (the block indexes nothing, so it is the same on every connection). */
const encoded = new WeakMap<readonly HeaderField[], Buffer>();

/** A header block (compressed) past this ends the connection. */
const MAX_HEADER_BLOCK = 64 * 1024;

export class H2Connection implements StreamSink {
  private readonly reader = new FrameReader(DEFAULT_MAX_FRAME);
  private readonly decoder = new HeaderBlockDecoder();
  /** Header lists found well-formed (the decoder hands a repeated block's list out again). */
  private readonly wellFormed = new WeakSet<readonly HeaderField[]>();
  private readonly streams = new Map<number, H2Stream>();
  /** The streams the read under way has delivered request headers or DATA to (read()). */
  private readonly carried: H2Stream[] = [];
  /** Each stream's receive window and the bytes consumed but not yet given back. */
  private readonly receiving = new WeakMap<H2Stream, { window: number; credit: number }>();
  private readonly maxConcurrent: number;
  private readonly streamWindow: number;
  private readonly connectionWindow: number;
  private lastStream = 0;
  private block: { stream: number; endStream: boolean; parts: Buffer[]; size: number } | undefined;
  private peerInitialWindow = DEFAULT_WINDOW;
  maxFrame = DEFAULT_MAX_FRAME;
  private sendWindow = DEFAULT_WINDOW;
  private received = 0;
  private readonly output: FrameOutput;
  private goingAway = false;
  private gone = false;
  private prefaceTimer: NodeJS.Timeout | undefined;
  /** Called once, when the socket has closed. */
  onClose: () => void = () => {};

  constructor(
    private readonly socket: Duplex,
    private readonly o: H2ConnectionOptions,
  ) {
    this.maxConcurrent = o.maxConcurrentStreams ?? 1000;
    this.streamWindow = o.streamWindow ?? 1 << 20;
    this.connectionWindow = o.connectionWindow ?? 16 << 20;
    this.output = new FrameOutput(socket);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.socketClosed());
    this.prefaceTimer = setTimeout(() => socket.destroy(), o.prefaceTimeoutMs ?? 60_000);
    const announced = [[SETTINGS_MAX_CONCURRENT_STREAMS, this.maxConcurrent], [SETTINGS_INITIAL_WINDOW_SIZE, this.streamWindow], [SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST]] as const;
    this.send([settingsFrame(announced), frame32(WINDOW_UPDATE, 0, this.connectionWindow - DEFAULT_WINDOW)]);
  }

  /** Streams in progress. */
  get active(): number {
    return this.streams.size;
  }

  /**
   * No new streams (GOAWAY): the ones in progress go on, and the connection closes once they
   * are done.
   */
  goAway(): void {
    if (this.goingAway || this.gone) return;
    this.goingAway = true;
    this.sendGoAway(NO_ERROR, '');
    if (this.streams.size === 0) this.endSoon();
  }

  /** Closes the connection now; its streams are aborted. */
  destroy(): void {
    this.socket.destroy();
  }

  // StreamSink

  send(frames: Buffer[]): void {
    if (!this.gone) this.output.send(frames);
  }

  encodeHeaders(fields: readonly HeaderField[]): Buffer {
    let block = encoded.get(fields);
    if (!block) {
      block = encodeHeaderBlock(fields);
      // The lists a caller keeps (a gRPC response's headers, OK trailers) are encoded once.
      if (Object.isFrozen(fields)) encoded.set(fields, block);
    }
    return block;
  }

  takeConnectionWindow(want: number): number {
    const n = Math.max(0, Math.min(want, this.sendWindow));
    this.sendWindow -= n;
    return n;
  }

  takeWholeConnectionWindow(n: number): boolean {
    if (n > this.sendWindow) return false;
    this.sendWindow -= n;
    return true;
  }

  credit(stream: H2Stream, n: number): void {
    const r = this.receiving.get(stream);
    if (!r) return;
    r.credit += n;
    if (r.credit < this.streamWindow / 2) return;
    this.send([frame32(WINDOW_UPDATE, stream.id, r.credit)]);
    r.window += r.credit;
    r.credit = 0;
  }

  reset(stream: H2Stream, code: number): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.send([frame32(RST_STREAM, stream.id, code)]);
    this.closed(stream);
  }

  closed(stream: H2Stream): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    if (this.goingAway && this.streams.size === 0) this.endSoon();
  }

  // The client's frames

  /**
   * The frames of one read. What they queue leaves at the read's end, in one write, when no
   * stream they carried a request to is still open (they carried none, or each was answered
   * or reset within the read: a handler that answers at once, wrap.ts); otherwise at
   * setImmediate (send), once the handlers' promise jobs have run: the answer and a PING's
   * ACK read with its request leave in one write, and wake the client once.
   */
  private read(chunk: Buffer): void {
    this.output.hold();
    try {
      for (const f of this.reader.push(chunk)) {
        if (this.gone) return;
        this.frame(f);
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      let open = false;
      for (const s of this.carried) open ||= !s.finished;
      this.carried.length = 0;
      this.output.release(open);
    }
  }

  private frame(f: Frame): void {
    if (this.prefaceTimer) {
      clearTimeout(this.prefaceTimer);
      this.prefaceTimer = undefined;
    }
    if (this.block && (f.type !== CONTINUATION || f.stream !== this.block.stream)) throw new ProtocolError('a frame inside a header block');
    switch (f.type) {
      case DATA:
        return this.data(f);
      case HEADERS:
        return this.headers(f);
      case CONTINUATION:
        return this.continuation(f);
      case RST_STREAM:
        if (f.stream === 0) throw new ProtocolError('RST_STREAM on stream 0');
        if (f.payload.length !== 4) throw new ProtocolError('RST_STREAM of the wrong size', FRAME_SIZE_ERROR);
        this.streams.get(f.stream)?.abort();
        return;
      case SETTINGS:
        return this.settings(f);
      case PING:
        if (f.stream !== 0) throw new ProtocolError('PING on a stream');
        if (f.payload.length !== 8) throw new ProtocolError('PING of the wrong size', FRAME_SIZE_ERROR);
        if (!(f.flags & ACK)) this.send([frame(PING, ACK, 0, f.payload)]);
        return;
      case GOAWAY:
        // The client opens no more streams; it closes the connection when it is done.
        return;
      case WINDOW_UPDATE:
        return this.windowUpdate(f);
      case PUSH_PROMISE:
        throw new ProtocolError('PUSH_PROMISE from a client');
      default:
        // PRIORITY, and frame types this side does not know (RFC 9113 4.1: ignored).
        return;
    }
  }

  private headers(f: Frame): void {
    if (f.stream === 0 || f.stream % 2 === 0) throw new ProtocolError(`HEADERS on stream ${f.stream}: not one a client opens`);
    const part = unpadded(f);
    this.block = { stream: f.stream, endStream: (f.flags & END_STREAM) !== 0, parts: [part], size: part.length };
    if (f.flags & END_HEADERS) this.headerBlock();
  }

  private continuation(f: Frame): void {
    if (!this.block) throw new ProtocolError('CONTINUATION outside a header block');
    this.block.parts.push(f.payload);
    this.block.size += f.payload.length;
    if (this.block.size > MAX_HEADER_BLOCK) throw new ProtocolError(`header block over ${MAX_HEADER_BLOCK} bytes`, ENHANCE_YOUR_CALM);
    if (f.flags & END_HEADERS) this.headerBlock();
  }

  private headerBlock(): void {
    const { stream: id, endStream, parts } = this.block!;
    this.block = undefined;
    // Decoded whatever becomes of the stream: the dynamic table must follow the client's.
    const fields = this.decoder.decode(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    const existing = this.streams.get(id);
    if (existing) {
      this.carried.push(existing);
      // Trailers: they end the request. A client's gRPC request has none to read.
      if (!endStream) return existing.cancel(PROTOCOL_ERROR);
      return existing.remoteEnd();
    }
    if (id <= this.lastStream) {
      this.send([frame32(RST_STREAM, id, STREAM_CLOSED)]);
      return;
    }
    this.lastStream = id;
    if (this.goingAway || this.streams.size >= this.maxConcurrent) {
      this.send([frame32(RST_STREAM, id, REFUSED_STREAM)]);
      return;
    }
    if (!this.wellFormed.has(fields)) {
      if (malformed(fields) !== undefined) {
        this.send([frame32(RST_STREAM, id, PROTOCOL_ERROR)]);
        return;
      }
      this.wellFormed.add(fields);
    }
    const stream = new H2Stream(this, id, fields, this.peerInitialWindow);
    this.streams.set(id, stream);
    this.carried.push(stream);
    this.receiving.set(stream, { window: this.streamWindow, credit: 0 });
    this.o.onStream(stream);
    if (endStream) stream.remoteEnd();
  }

  private data(f: Frame): void {
    if (f.stream === 0) throw new ProtocolError('DATA on stream 0');
    const length = f.payload.length;
    this.received += length;
    if (this.received > this.connectionWindow) throw new ProtocolError('DATA past the connection window', FLOW_CONTROL_ERROR);
    if (this.received >= this.connectionWindow / 2) {
      // Given back at once: each stream's own window is what holds a slow consumer's peer back.
      this.send([frame32(WINDOW_UPDATE, 0, this.received)]);
      this.received = 0;
    }
    const stream = this.streams.get(f.stream);
    if (!stream) {
      if (f.stream > this.lastStream) throw new ProtocolError(`DATA on stream ${f.stream}, never opened`);
      return; // a stream this side has closed: what was in flight is dropped
    }
    if (stream.remoteEnded) return stream.cancel(STREAM_CLOSED);
    this.carried.push(stream);
    const r = this.receiving.get(stream)!;
    r.window -= length;
    if (r.window < 0) return stream.cancel(FLOW_CONTROL_ERROR);
    const body = unpadded(f);
    if (body.length < length) this.credit(stream, length - body.length);
    if (body.length > 0) stream.onData(body);
    if (f.flags & END_STREAM) stream.remoteEnd();
  }

  private settings(f: Frame): void {
    if (f.stream !== 0) throw new ProtocolError('SETTINGS on a stream');
    if (f.flags & ACK) {
      if (f.payload.length !== 0) throw new ProtocolError('SETTINGS ACK with a payload', FRAME_SIZE_ERROR);
      return;
    }
    if (f.payload.length % 6 !== 0) throw new ProtocolError('SETTINGS of the wrong size', FRAME_SIZE_ERROR);
    for (let at = 0; at < f.payload.length; at += 6) {
      const id = f.payload.readUInt16BE(at);
      const value = uint32At(f.payload, at + 2);
      if (id === 0x2 && value > 1) throw new ProtocolError('SETTINGS_ENABLE_PUSH over 1');
      if (id === SETTINGS_INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new ProtocolError('SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1', FLOW_CONTROL_ERROR);
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) throw new ProtocolError('a stream window over 2^31-1', FLOW_CONTROL_ERROR);
        }
      }
      if (id === SETTINGS_MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > 0xffffff) throw new ProtocolError(`SETTINGS_MAX_FRAME_SIZE ${value} out of range`);
        this.maxFrame = value;
      }
      // The others (header table size: this side's encoder indexes nothing; the stream limit
      // for pushes) change nothing here.
    }
    this.send([frame(SETTINGS, ACK, 0)]);
    this.flushStreams();
  }

  private windowUpdate(f: Frame): void {
    if (f.payload.length !== 4) throw new ProtocolError('WINDOW_UPDATE of the wrong size', FRAME_SIZE_ERROR);
    const increment = uint32At(f.payload, 0) & 0x7fffffff;
    if (f.stream === 0) {
      if (increment === 0) throw new ProtocolError('WINDOW_UPDATE of 0');
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW) throw new ProtocolError('the connection window over 2^31-1', FLOW_CONTROL_ERROR);
      this.flushStreams();
      return;
    }
    const stream = this.streams.get(f.stream);
    if (!stream) return;
    if (increment === 0) return stream.cancel(PROTOCOL_ERROR);
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) return stream.cancel(FLOW_CONTROL_ERROR);
    stream.flush();
  }

  /** Every stream sends what the windows now let through. */
  private flushStreams(): void {
    for (const s of [...this.streams.values()]) {
      if (this.sendWindow <= 0) return;
      s.flush();
    }
  }

  // The connection's end

  private fail(err: Error): void {
    if (this.gone) return;
    this.o.onProtocolError?.(err);
    this.sendGoAway(err instanceof ProtocolError ? err.code : PROTOCOL_ERROR, err.message);
    this.output.flush();
    this.socket.end();
    this.gone = true;
    this.abortAll();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private sendGoAway(code: number, debug: string): void {
    const payload = Buffer.allocUnsafe(8);
    payload.writeUInt32BE(this.lastStream, 0);
    payload.writeUInt32BE(code, 4);
    this.send([frame(GOAWAY, 0, 0, Buffer.concat([payload, Buffer.from(debug.slice(0, 256))]))]);
  }

  /** After a GOAWAY, once no stream is left: what is queued goes out, then the socket ends. */
  private endSoon(): void {
    process.nextTick(() => {
      this.output.flush();
      this.socket.end();
    });
  }

  private abortAll(): void {
    for (const s of [...this.streams.values()]) s.abort();
    this.streams.clear();
  }

  private socketClosed(): void {
    clearTimeout(this.prefaceTimer);
    this.gone = true;
    this.output.clear();
    this.abortAll();
    this.onClose();
  }
}
