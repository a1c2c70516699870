import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { ByteBudget, CONNECTION_FLOOR } from './byte-budget.js';
import { DEFAULT_STREAMING_LIMITS, type StreamingLimits } from './limits.js';
import { Outbound } from './outbound.js';
import { FrameDecoder, FrameEncoder, MAX_DATA_CHUNK, RstStatus, SpdyProtocolError, type Frame, type SpdyHeaders } from './spdy-frames.js';
import { SpdyStream, type SpdyLimitEvent, type StreamHost } from './spdy-stream.js';

export { SpdyStream, type SpdyLimitEvent } from './spdy-stream.js';

/** GOAWAY's status for a connection closed over a protocol error (SPDY/3 §2.6.6). */
const GOAWAY_PROTOCOL_ERROR = 1;
/**
 * What an open stream is charged toward the byte budgets: about what its objects take (a
 * Duplex and its bookkeeping, measured at 1.8 KiB retained).
 */
const STREAM_COST = 2 << 10;
/** How long a connection closed over a protocol error may take to flush its GOAWAY. */
const FAIL_LINGER_MS = 1_000;

/**
 * One SPDY/3.1 connection over an upgraded socket, as much of it as Kubernetes streaming
 * uses: streams opened by either side, replies, data, half-close, reset, ping, goaway.
 *
 * Flow control is left out on purpose. moby/spdystream, the client kubectl, crictl and
 * kubelet use, never sends WINDOW_UPDATE, so honouring the 64 KiB window would stall any
 * output past it. Backpressure comes from the socket instead: a stream's write completes
 * when the socket has taken the bytes, and the socket stops being read while a stream's
 * reader is full, while the connection holds more than `maxBufferedBytes` its readers have
 * not taken (or more than its floor while the daemon-wide budget is spent), or while the peer
 * leaves more than that of our replies (pings, resets) unread. What we send is bounded the
 * same way (src/streaming/outbound.ts): past `maxBufferedBytes` queued for a client that does
 * not read, every stream's source is held and new streams are refused.
 *
 * What the peer may make it hold is capped (src/streaming/limits.ts): an inflated header
 * block, streams at once, bytes buffered. A protocol error closes the connection with
 * GOAWAY; nothing is thrown out of an event handler.
 */
export class SpdySession extends EventEmitter implements StreamHost {
  private readonly streams = new Map<number, SpdyStream>();
  private readonly replies = new Map<number, { resolve(s: SpdyStream): void; reject(e: Error): void }>();
  private readonly full = new Set<SpdyStream>();
  /** Every stream this connection made, open or not, until it is read out or the connection goes. */
  private readonly made = new Set<SpdyStream>();
  /** Bytes received that no reader took, as charged (src/streaming/inbound.ts), plus STREAM_COST per open stream. */
  private held = 0;
  private readonly budget: ByteBudget;
  private readonly unwatch: () => void;
  private readonly decoder: FrameDecoder;
  private readonly encoder = new FrameEncoder();
  private readonly outbound: Outbound;
  /** @internal */
  readonly limits: StreamingLimits;
  private nextId: number;
  private lastRemoteId = 0;
  private goneAway = false;
  private closed = false;
  private failed = false;
  private overBudget = false;
  private overTotal = false;
  private writeBlocked = false;

  constructor(
    readonly socket: Socket,
    role: 'server' | 'client',
    limits: Partial<StreamingLimits> = {},
    budget?: ByteBudget,
  ) {
    super();
    this.limits = { ...DEFAULT_STREAMING_LIMITS, ...limits };
    this.budget = budget ?? new ByteBudget(this.limits.maxTotalBufferedBytes);
    this.outbound = new Outbound(socket, this.limits.maxBufferedBytes, this.budget, (hold) => this.holdSources(hold));
    this.unwatch = this.budget.watch(() => {
      this.updateFlow();
      this.outbound.update();
    });
    this.decoder = new FrameDecoder(this.limits.maxHeaderBytes);
    this.nextId = role === 'client' ? 1 : 2;
    socket.setNoDelay(true);
    // Every stream blocked on a full socket waits for the one 'drain'.
    socket.setMaxListeners(0);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => socket.destroy());
    // The peer sends no more frames: its streams are over (http.Server's sockets allow half-open).
    socket.on('end', () => socket.destroy());
    socket.on('close', () => this.onClose());
    socket.on('drain', () => {
      this.outbound.update();
      if (!this.writeBlocked) return;
      this.writeBlocked = false;
      this.updateFlow();
    });
  }

  /** @internal: whether every stream's source is held (src/streaming/outbound.ts). */
  get holding(): boolean {
    return this.outbound.isHolding;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Opens a stream and waits for the peer's reply (the client side of Kubernetes streaming). */
  openStream(headers: SpdyHeaders, fin = false): Promise<SpdyStream> {
    if (this.closed || this.goneAway) return Promise.reject(new Error('spdy: connection is closing'));
    const id = this.nextId;
    this.nextId += 2;
    const stream = this.track(new SpdyStream(this, id, headers));
    this.open(stream);
    if (fin) stream.localFinished = true;
    return new Promise((resolve, reject) => {
      this.replies.set(id, { resolve, reject });
      this.write(this.encoder.synStream(id, headers, fin));
    });
  }

  /** Refuses new streams; the peer learns the last stream this side accepted. */
  goAway(): void {
    if (this.closed || this.goneAway) return;
    this.goneAway = true;
    this.write(this.encoder.goAway(this.lastRemoteId));
  }

  /** Sends GOAWAY and ends the socket once written; `destroy()` follows if the peer lingers. */
  close(lingerMs = 5_000): void {
    if (this.closed) return;
    this.goAway();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), lingerMs).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** @internal */
  write(frame: Buffer, done?: (err?: Error | null) => void): boolean {
    if (this.closed || this.failed || this.socket.destroyed || this.socket.writableEnded) {
      done?.(null);
      return true;
    }
    const ok = this.socket.write(frame, done);
    // A peer that sends pings or bad frames and reads none of the answers is not read either
    // (data frames it does not read are held back instead: src/streaming/outbound.ts).
    if (this.socket.writableLength - this.outbound.queued > this.limits.maxBufferedBytes && !this.writeBlocked) {
      this.writeBlocked = true;
      this.updateFlow();
    }
    return ok;
  }

  /** @internal: the stream's data, split into frames (the payload is not copied); `done` once the connection has room for more. */
  writeData(stream: SpdyStream, data: Buffer, fin: boolean, done: (err?: Error | null) => void): void {
    if (this.closed || this.failed) {
      done();
      return;
    }
    const parts: Buffer[] = [];
    if (data.length === 0) parts.push(this.encoder.dataHead(stream.id, 0, fin));
    for (let at = 0; at < data.length; at += MAX_DATA_CHUNK) {
      const piece = data.subarray(at, at + MAX_DATA_CHUNK);
      parts.push(this.encoder.dataHead(stream.id, piece.length, fin && at + MAX_DATA_CHUNK >= data.length), piece);
    }
    this.outbound.write(parts, () => done());
  }

  /** Every open stream's source stops reading (or goes on): the client leaves too much unread, or read it. */
  private holdSources(hold: boolean): void {
    if (hold) this.limit({ kind: 'outbound', message: `more than ${this.limits.maxBufferedBytes} bytes queued for the client (or the daemon-wide budget spent): sources held, new streams' too, until it reads` });
    for (const s of [...this.streams.values()]) s.emit(hold ? 'hold' : 'release');
  }

  /** @internal */
  reply(stream: SpdyStream, headers: SpdyHeaders): void {
    this.write(this.encoder.synReply(stream.id, headers));
  }

  /** @internal */
  reset(stream: SpdyStream, status: number): void {
    this.write(this.encoder.rstStream(stream.id, status));
    this.forget(stream);
  }

  /** @internal: a stream's reader is full; stop reading the socket until it drains. */
  pauseFor(stream: SpdyStream): void {
    this.full.add(stream);
    this.updateFlow();
  }

  /** @internal: a stream's reader took bytes (or went); the socket may be read again. */
  resumeFor(stream: SpdyStream): void {
    this.full.delete(stream);
    this.updateFlow();
  }

  /** @internal */
  forget(stream: SpdyStream): void {
    if (this.streams.delete(stream.id)) this.account(-STREAM_COST);
    this.resumeFor(stream);
  }

  /** An open stream is charged what its objects take, so that many streams count toward the budgets too. */
  private open(stream: SpdyStream): void {
    this.streams.set(stream.id, stream);
    this.account(STREAM_COST);
  }

  /** Keeps a stream until it is read to its end or gone, to drop what it holds if the connection goes first. */
  private track(stream: SpdyStream): SpdyStream {
    this.made.add(stream);
    const release = (): void => {
      this.made.delete(stream);
      this.resumeFor(stream);
    };
    stream.once('end', release);
    stream.once('close', release);
    return stream;
  }

  /** @internal */
  account(delta: number): void {
    this.held += delta;
    this.budget.add(delta);
  }

  /** @internal */
  limit(e: SpdyLimitEvent): void {
    this.emit('limit', e);
  }

  /** Bytes received on this connection that no reader has taken yet, as charged (with each piece's overhead), and its open streams' cost. */
  get bufferedBytes(): number {
    return this.held;
  }

  /** Reads the socket only while every reader has room, the budgets hold and the peer reads our replies. */
  private updateFlow(): void {
    if (this.closed || this.failed) return;
    const over = this.held > this.limits.maxBufferedBytes;
    if (over && !this.overBudget) this.limit({ kind: 'buffered', message: `more than ${this.limits.maxBufferedBytes} bytes held (received and not yet read, open streams): not reading until they are fewer` });
    this.overBudget = over;
    const overTotal = this.held > CONNECTION_FLOOR && this.budget.over;
    if (overTotal && !this.overTotal) this.limit({ kind: 'total', message: `all connections hold more than ${this.budget.max} bytes received and not yet read: not reading this one until they hold less` });
    this.overTotal = overTotal;
    if (this.full.size > 0 || this.overBudget || this.overTotal || this.writeBlocked) this.socket.pause();
    else this.socket.resume();
  }

  private receive(chunk: Buffer): void {
    if (this.failed) return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.fail(err instanceof SpdyProtocolError ? err : new SpdyProtocolError(String(err)));
      return;
    }
    for (const f of frames) {
      if (this.failed || this.closed) return;
      try {
        this.handle(f);
      } catch (err) {
        // A listener's bug ends this connection, never the daemon (this runs in 'data').
        this.fail(new SpdyProtocolError(`internal error on a ${f.type} frame: ${err instanceof Error ? err.message : String(err)}`));
        return;
      }
    }
    this.updateFlow();
  }

  /**
   * A protocol error: the peer is told with GOAWAY, nothing more is read, and the socket goes
   * once that is written (or after a short linger, for a peer that reads nothing).
   */
  private fail(err: SpdyProtocolError): void {
    if (this.failed || this.closed) return;
    this.emit('protocolError', err);
    const goaway = this.encoder.goAway(this.lastRemoteId, GOAWAY_PROTOCOL_ERROR);
    this.failed = true;
    this.goneAway = true;
    this.socket.pause();
    if (this.socket.destroyed || this.socket.writableEnded) {
      this.socket.destroy();
      return;
    }
    this.socket.end(goaway, () => this.socket.destroy());
    setTimeout(() => this.socket.destroy(), FAIL_LINGER_MS).unref();
  }

  private handle(f: Frame): void {
    switch (f.type) {
      case 'syn_stream': {
        if (this.goneAway || f.streamId <= this.lastRemoteId || this.streams.has(f.streamId)) {
          this.write(this.encoder.rstStream(f.streamId, this.goneAway ? RstStatus.REFUSED_STREAM : RstStatus.PROTOCOL_ERROR));
          return;
        }
        this.lastRemoteId = f.streamId;
        // Accepted even while the client leaves too much unread: a slow but healthy client of a
        // busy port-forward sits between half the cap and the cap much of the time, and refusing
        // then would fail its new connections. The stream costs its slot only: its source starts
        // held (SpdyStream.holding, src/netns/port-dial.ts) until the client reads.
        if (this.streams.size >= this.limits.maxStreams) {
          this.limit({ kind: 'streams', message: `stream ${f.streamId} refused: ${this.streams.size} streams open, at most ${this.limits.maxStreams}` });
          this.write(this.encoder.rstStream(f.streamId, RstStatus.REFUSED_STREAM));
          return;
        }
        const stream = this.track(new SpdyStream(this, f.streamId, f.headers));
        this.open(stream);
        if (f.fin) stream.remoteFinished();
        if (f.unidirectional) stream.localFinished = true;
        this.emit('stream', stream);
        return;
      }
      case 'syn_reply': {
        const waiter = this.replies.get(f.streamId);
        this.replies.delete(f.streamId);
        const stream = this.streams.get(f.streamId);
        if (waiter && stream) waiter.resolve(stream);
        if (f.fin) stream?.remoteFinished();
        return;
      }
      case 'data': {
        const stream = this.streams.get(f.streamId);
        if (!stream) return;
        if (f.data.length > 0) stream.receive(f.data);
        if (f.fin) stream.remoteFinished();
        return;
      }
      case 'headers':
        if (f.fin) this.streams.get(f.streamId)?.remoteFinished();
        return;
      case 'rst_stream': {
        const stream = this.streams.get(f.streamId);
        const waiter = this.replies.get(f.streamId);
        this.replies.delete(f.streamId);
        waiter?.reject(new Error(`spdy: stream ${f.streamId} reset (status ${f.status})`));
        stream?.wasReset();
        return;
      }
      case 'ping':
        // Only the peer's pings are answered; this side sends none.
        this.write(this.encoder.ping(f.id));
        return;
      case 'goaway':
        // The peer is closing: no new streams either way; the open ones run to their end.
        this.goneAway = true;
        return;
      case 'settings':
      case 'window_update':
      case 'unknown':
        return;
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.replies.values()) w.reject(new Error('spdy: connection closed'));
    this.replies.clear();
    for (const s of this.made) s.connectionClosed();
    this.made.clear();
    this.account(-STREAM_COST * this.streams.size);
    this.streams.clear();
    this.full.clear();
    this.outbound.close();
    this.unwatch();
    this.emit('close');
  }
}
