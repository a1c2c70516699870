/**
 * Every request served whatever its `:authority`. nghttp2, under Node's HTTP/2 server, resets
 * a stream whose `:authority` (or `host`) holds a character RFC 3986 does not allow in one,
 * such as the `/` of the socket path that grpc-go clients before 1.5x send over a unix socket
 * (kubelet up to 1.26, grpc-java, older tools), or that has none. containerd and CRI-O take
 * any authority, and Node has no option to turn that one check off.
 *
 * So the daemon accepts each connection itself and looks at the client's first request before
 * the HTTP/2 server sees anything. It answers the client's preface with a SETTINGS frame of
 * its own (grpc-go sends no request before it has the server's settings), reads until the
 * first header block is complete and the client has acknowledged those settings, then:
 * - the authority is one nghttp2 takes (crictl, critest, any current client): the socket goes
 *   to the HTTP/2 server as it is, with what was read put back minus that acknowledgement.
 *   nghttp2 then reads the socket natively: no cost past the first request;
 * - it is not (kubelet 1.26): the server gets a stream in which every header block of the
 *   connection is rewritten (h2-authority.ts). That path costs a JavaScript hop per read.
 * A client that changes its authority between requests of one connection is read by its
 * first; no client known to send a path does that.
 */
import { Duplex } from 'node:stream';
import { frameHeader, SETTINGS } from './h2-frames.js';
import { AuthorityRewriter, authorityAccepted, MAX_HEADER_BLOCK } from './h2-authority.js';

/** What a client may send before its first request is complete; more ends the connection. */
const MAX_HELD = 4 * MAX_HEADER_BLOCK;
/** A connection whose first request is not complete by then is closed (a client reconnects). */
const FIRST_REQUEST_TIMEOUT_MS = 60_000;
const OWN_SETTINGS = frameHeader(0, SETTINGS, 0, 0);

/**
 * Connections not yet handed to the HTTP/2 server: they are this module's to close, at the
 * first-request deadline or when the listener stops.
 */
export class Http2Gate {
  private readonly waiting = new Set<Duplex>();
  private closed = false;

  constructor(
    private readonly inject: (conn: Duplex, rewritten: boolean) => void,
    private readonly onProtocolError: (err: Error) => void,
    private readonly firstRequestTimeoutMs = FIRST_REQUEST_TIMEOUT_MS,
  ) {}

  /** Ends every connection still waiting for its first request; later ones are refused. */
  close(): void {
    this.closed = true;
    for (const socket of this.waiting) socket.destroy();
    this.waiting.clear();
  }

  /**
   * Hands `socket` to the HTTP/2 server once the client's first request shows whether its
   * header blocks need rewriting (`rewritten`: they do, and are).
   */
  accept(socket: Duplex): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const rewriter = new AuthorityRewriter(true);
    const held: Buffer[] = [];
    const rewritten: Buffer[] = [];
    let heldBytes = 0;
    const timer = setTimeout(() => socket.destroy(), this.firstRequestTimeoutMs);
    const leave = (): void => {
      clearTimeout(timer);
      this.waiting.delete(socket);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', leave);
    };
    const onError = (): void => {
      socket.destroy();
    };
    const onData = (chunk: Buffer): void => {
      held.push(chunk);
      heldBytes += chunk.length;
      try {
        if (heldBytes > MAX_HELD) throw new Error(`over ${MAX_HELD} bytes before the first request was complete`);
        rewritten.push(rewriter.push(chunk));
      } catch (err) {
        this.onProtocolError(err as Error);
        socket.destroy();
        return;
      }
      const ack = rewriter.ackOffset;
      if (rewriter.firstHeaders === undefined || ack === undefined) return;
      leave();
      if (authorityAccepted(rewriter.firstHeaders)) {
        socket.pause();
        const all = Buffer.concat(held);
        socket.unshift(Buffer.concat([all.subarray(0, ack), all.subarray(ack + OWN_SETTINGS.length)]));
        this.inject(socket, false);
      } else {
        this.inject(rewritingStream(socket, rewriter, Buffer.concat(rewritten), this.onProtocolError), true);
      }
    };
    this.waiting.add(socket);
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', leave);
    socket.write(OWN_SETTINGS);
  }
}

/**
 * The connection as the HTTP/2 server should see it when its header blocks are rewritten:
 * reads through `rewriter` (`first`: what it made of the bytes read so far), writes passed
 * through, backpressure and errors carried both ways.
 */
function rewritingStream(socket: Duplex, rewriter: AuthorityRewriter, first: Buffer, onProtocolError: (err: Error) => void): Duplex {
  // The HTTP/2 session hands its frames over one buffer at a time; held back until the end of
  // the tick, they leave in one writev instead of a syscall each.
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  const conn: Duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, callback) {
      if (!corked) {
        corked = true;
        socket.cork();
        process.nextTick(uncork);
      }
      if (socket.write(chunk)) callback();
      else socket.once('drain', () => callback());
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(err, callback) {
      socket.destroy(err ?? undefined);
      callback(err);
    },
  });
  if (first.length > 0) conn.push(first);
  socket.on('data', (chunk: Buffer) => {
    let out: Buffer;
    try {
      out = rewriter.push(chunk);
    } catch (err) {
      onProtocolError(err as Error);
      socket.destroy();
      return;
    }
    if (out.length > 0 && !conn.push(out)) socket.pause();
  });
  let ended = false;
  socket.on('end', () => {
    ended = true;
    conn.push(null);
  });
  socket.on('error', (err) => conn.destroy(err));
  // After a clean end the server reads what is left and closes; before it, the peer is gone.
  socket.on('close', () => {
    if (!ended) conn.destroy();
  });
  return conn;
}
