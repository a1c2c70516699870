/**
 * The gRPC server: HTTP/2 connections (util/h2-connection.ts) whose streams are calls
 * (rpc-call.ts), each routed by its `:path` to the handler registered for the method.
 * The daemon hands it the connections it accepts (listen.ts).
 */
import type { Duplex } from 'node:stream';
import { Deadlines } from '../util/deadlines.js';
import { H2Connection } from '../util/h2-connection.js';
import type { H2Stream, HeaderField } from '../util/h2-stream.js';
import { grpcMessage, Status, type RpcStatus } from './grpc-status.js';
import { RpcCall, type CallLimits, type MethodCodec } from './rpc-call.js';
import type { CallCount } from '../util/call-count.js';

/** Takes a call of one method: sets its message listeners and answers it. */
export type CallHandler = (call: RpcCall) => void;

/** A call answered with `status` and nothing else, before it is routed. */
function trailersOnly(stream: H2Stream, status: RpcStatus): void {
  stream.respond(
    [
      { name: ':status', value: '200' },
      { name: 'content-type', value: 'application/grpc' },
      { name: 'grpc-status', value: String(status.code) },
      { name: 'grpc-message', value: grpcMessage(status.details) },
    ],
    true,
  );
}

const HTTP_STATUS = (code: string): HeaderField[] => [{ name: ':status', value: code }];

export class RpcServer {
  private readonly methods = new Map<string, { codec: MethodCodec; handler: CallHandler }>();
  private readonly connections = new Set<H2Connection>();
  /** The calls' grpc-timeout deadlines, on one timer. */
  private readonly deadlines = new Deadlines();
  private closing = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly limits: CallLimits,
    private readonly onProtocolError: (err: Error) => void = () => {},
    private readonly calls?: CallCount,
  ) {}

  register(codec: MethodCodec, handler: CallHandler): void {
    this.methods.set(codec.path, { codec, handler });
  }

  /** Serves the calls of an accepted connection (a unix or TLS socket). */
  accept(socket: Duplex): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.track(new H2Connection(socket, { onStream: (s) => this.call(s), onProtocolError: this.onProtocolError }));
  }

  /** Answers every call of `socket` with `status`, then closes it (a client this daemon will not serve). */
  refuse(socket: Duplex, status: RpcStatus, timeoutMs: number): void {
    const conn = new H2Connection(socket, {
      onStream: (s) => {
        trailersOnly(s, status);
        conn.goAway();
      },
    });
    const timer = setTimeout(() => conn.destroy(), timeoutMs);
    // Tracked as the others: a shutdown ends it too, and waits for it no longer than its timer.
    this.track(conn, () => clearTimeout(timer));
  }

  /**
   * No new connections or calls; `done` once the calls in progress have finished (their
   * connections then close). forceShutdown() ends them sooner.
   */
  tryShutdown(done: () => void): void {
    this.closing = true;
    for (const c of this.connections) c.goAway();
    if (this.connections.size === 0) done();
    else this.idleWaiters.push(done);
  }

  /** Closes every connection now: their calls are cancelled. */
  forceShutdown(): void {
    this.closing = true;
    for (const c of [...this.connections]) c.destroy();
  }

  private track(conn: H2Connection, closed?: () => void): void {
    this.connections.add(conn);
    conn.onClose = () => {
      closed?.();
      this.connections.delete(conn);
      if (this.connections.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
  }

  private call(stream: H2Stream): void {
    if (stream.header(':method') !== 'POST') return stream.respond(HTTP_STATUS('405'), true);
    if (!(stream.header('content-type') ?? '').startsWith('application/grpc')) return stream.respond(HTTP_STATUS('415'), true);
    const path = stream.header(':path') ?? '';
    const method = this.methods.get(path);
    if (!method) return trailersOnly(stream, { code: Status.UNIMPLEMENTED, details: `method ${path.slice(0, 200)} is not served by coracle` });
    const encoding = stream.header('grpc-encoding');
    if (encoding !== undefined && encoding !== 'identity') {
      return trailersOnly(stream, { code: Status.UNIMPLEMENTED, details: `grpc-encoding ${encoding.slice(0, 100)} is not supported: send identity` });
    }
    const call = new RpcCall(stream, method.codec, this.limits, this.deadlines);
    const calls = this.calls;
    if (calls && !method.codec.requestStream && !method.codec.responseStream) {
      calls.begun();
      call.onOver = () => calls.ended();
    }
    method.handler(call);
  }
}
