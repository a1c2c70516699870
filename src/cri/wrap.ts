import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { CoracleError, errorCodeOf } from '../errors.js';
import { logLevelFor, toGrpcError, type CriError } from './status-map.js';
import { NAMESPACE_METADATA, namespaceFromHeader } from './namespace-header.js';
import { Status } from './grpc-status.js';
import type { RpcCall } from './rpc-call.js';
import type { CallHandler } from './rpc-server.js';

/** What every handler gets besides its request. */
export interface CallContext {
  /** A short id that names this request in every log line it causes. */
  readonly id: string;
  readonly log: Logger;
  /** Aborted when the client cancels or its deadline passes. */
  readonly signal: AbortSignal;
  /**
   * The caller's namespace (the `coracle-namespace` header; none: `k8s.io`). Every call sees
   * only its namespace's pods and containers (namespace-view.ts); a bad value fails the call.
   */
  readonly namespace: string;
  /** The first value of a request metadata key (a gRPC header), if the client sent it. */
  metadata(key: string): string | undefined;
}

/**
 * Told once per call as it completes: its status (`OK`, or the error's code name, as
 * `NOT_FOUND`) and how long it took. The daemon's metrics implement it, so that nothing here
 * knows the metrics library; with metrics off there is none, and a call pays one branch.
 */
export type RpcObserve = (code: string, seconds: number) => void;

/** Gives each method its observer once, when the server is made: its label values are bound then, not per call. */
export interface RpcObserver {
  method(service: string, method: string): RpcObserve;
}

/**
 * A unary handler: the response, or a promise of it. One with nothing to wait for (a List
 * or Status of what the daemon holds in memory) answers at once: the answer is queued within
 * the read that brought the request, with no promise job between, and leaves at that read's
 * end unless another request read with it is still open (h2-connection.ts).
 */
export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Res | Promise<Res>;

/**
 * A server-streaming handler: writes its messages and resolves when the stream is done.
 * `headers` sends the response headers before any message (at most once): a client can
 * wait for them to know the handler is under way (a subscription made).
 */
export type ServerStreamHandler<Req, Res> = (request: Req, write: (message: Res) => Promise<void>, ctx: CallContext, headers: () => void) => Promise<void>;

/**
 * Request ids: a prefix drawn once per daemon and a count, not random bytes per call (a
 * crypto draw was a measurable part of a Status call). Unique within a daemon's life (the
 * count grows past six digits as it must), and across restarts as the prefix is.
 */
const ID_PREFIX = randomBytes(3).toString('hex');
let idCount = 0;
const nextId = (): string => `${ID_PREFIX}${(++idCount).toString(16).padStart(6, '0')}`;

/**
 * One call's context. What a handler may ask of it (its logger, signal and namespace) is
 * made when it first asks: the Status and List calls never ask for a signal, and most calls
 * log nothing at the default level (a winston child per call was a measurable part of a
 * Status or List call). A class, not an object literal with getters and closures: made for
 * every call, on a daemon whose code is not yet compiled too.
 */
class CallScope implements CallContext {
  readonly id = nextId();
  readonly start = process.hrtime.bigint();
  private callLog: Logger | undefined;
  private ns: string | undefined;
  private controller: AbortController | undefined;

  constructor(
    private readonly rpc: string,
    private readonly parent: Logger,
    private readonly call: RpcCall,
  ) {}

  get log(): Logger {
    return (this.callLog ??= this.parent.child({ rpc: this.rpc, req: this.id }));
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      const controller = (this.controller = new AbortController());
      // The Error (a stack trace) is made only for a signal someone holds.
      const abort = (): void => controller.abort(new Error(`${this.rpc}: cancelled by the client`));
      if (this.call.cancelled) abort();
      else this.call.onCancel(abort);
    }
    return this.controller.signal;
  }

  get namespace(): string {
    return (this.ns ??= namespaceFromHeader(this.call.metadata(NAMESPACE_METADATA)));
  }

  metadata(key: string): string | undefined {
    return this.call.metadata(key);
  }

  /** Milliseconds since the call began, to the microsecond. */
  ms(): number {
    return Math.round(Number(process.hrtime.bigint() - this.start) / 1e3) / 1e3;
  }
}

/**
 * Runs one call's work with what every RPC gets: an id, a child logger, timing, and errors
 * mapped to gRPC statuses in one place. `finish` gets the status or the result.
 */
function serve<T>(
  rpc: string,
  log: Logger,
  call: RpcCall,
  work: (ctx: CallContext) => T | Promise<T>,
  finish: (status: CriError | null, result?: T) => void,
  observe: RpcObserve | undefined,
): void {
  const ctx = new CallScope(rpc, log, call);
  const done = (result: T): void => {
    try {
      finish(null, result);
    } catch (err) {
      // An answer that fails on its way out (a response that does not encode) fails its call
      // alone: not the connection, within whose read an answer given at once is sent, nor the
      // daemon, as a throw in a promise's reaction would (an unhandled rejection).
      failed(err);
      return;
    }
    // winston formats a line (redaction, timestamp, JSON) before its transport drops
    // it for its level: asked first, a call at the default level formats nothing.
    if (log.isLevelEnabled('debug')) ctx.log.debug('rpc done', { ms: ctx.ms() });
    if (observe) observe('OK', seconds(ctx.start));
  };
  const failed = (err: unknown): void => {
    const status = toGrpcError(err);
    const level = logLevelFor(status.code);
    if (log.isLevelEnabled(level)) ctx.log.log(level, 'rpc failed', { ms: ctx.ms(), code: status.code, error: status.details });
    // Where it was raised, and where its causes were: for whoever debugs the daemon.
    if (log.isLevelEnabled('debug') && err instanceof Error) ctx.log.debug('rpc failed: stack', { stack: stacksOf(err) });
    finish(status);
    if (observe) observe(errorCodeOf(err), seconds(ctx.start));
  };
  // The work begins now, not in a promise job; what it throws fails the call as a rejection does.
  let answer: T | Promise<T>;
  try {
    // Checked before any work: a bad header fails every call, even one that never asks.
    void ctx.namespace;
    answer = work(ctx);
  } catch (err) {
    failed(err);
    return;
  }
  if (answer instanceof Promise) answer.then(done, failed);
  else done(answer);
}

const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

/** An error's stack and its causes' (at most 5 deep), each after a "caused by". */
function stacksOf(err: Error): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 5; depth++, e = e.cause) parts.push(e.stack ?? `${e.name}: ${e.message}`);
  return parts.join('\ncaused by: ');
}

/**
 * The one request message of a unary or server-streaming call, then `run` with it. No message,
 * or a second one, is the client's protocol error (INTERNAL, as grpc-go's server says it).
 */
function withRequest(rpc: string, call: RpcCall, run: (request: unknown) => void): void {
  let request: unknown;
  let got = false;
  call.onMessage = (message, bytes) => {
    call.consumed(bytes);
    if (got) return call.end({ code: Status.INTERNAL, details: `${rpc}: more than one request message` });
    request = message;
    got = true;
  };
  call.onHalfClose = () => {
    if (!got) return call.end({ code: Status.INTERNAL, details: `${rpc}: no request message` });
    run(request);
  };
}

/** The wrapper around every unary RPC. */
export function wrapUnary<Req, Res>(rpc: string, log: Logger, handler: UnaryHandler<Req, Res>, observe?: RpcObserve): CallHandler {
  return (call) => withRequest(rpc, call, (request) => serve(rpc, log, call, (ctx) => handler(request as Req, ctx), (status, res) => call.end(status, res), observe));
}

/** A server-streaming RPC; `handler` writes to the stream and resolves when it is done. */
export function wrapServerStream<Req, Res>(rpc: string, log: Logger, handler: ServerStreamHandler<Req, Res>, observe?: RpcObserve): CallHandler {
  // Waits for the client to take what is sent, so a large stream is not buffered whole; once
  // the client has gone, a write fails at once, so the handler ends and lets go of its files
  // and subscriptions instead of waiting for a drain that never comes.
  return (call) =>
    withRequest(rpc, call, (request) =>
      serve(
        rpc,
        log,
        call,
        (ctx) =>
          handler(
            request as Req,
            async (m) => {
              // Over: cancelled, or failed (a message over the size limit ends the call).
              if (call.over) throw new CoracleError('CANCELLED', `${rpc}: the call is over`);
              if (!call.write(m)) await call.drained();
            },
            ctx,
            () => call.sendHeaders(),
          ),
        (status) => call.end(status),
        observe,
      ),
    );
}

/**
 * The request messages of a client-streaming call as the handler reads them: each one's
 * window is given back to the client as it is taken, so a handler slower than its client
 * holds the client back instead of buffering the upload.
 */
function requestMessages<Req>(rpc: string, call: RpcCall): AsyncIterable<Req> {
  const queue: { message: unknown; bytes: number }[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  const poke = (): void => {
    wake?.();
    wake = undefined;
  };
  call.onMessage = (message, bytes) => {
    queue.push({ message, bytes });
    poke();
  };
  call.onHalfClose = () => {
    ended = true;
    poke();
  };
  call.onCancel(poke);
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const next = queue.shift();
        if (next) {
          call.consumed(next.bytes);
          yield next.message as Req;
          continue;
        }
        if (call.cancelled) throw new CoracleError('CANCELLED', `${rpc}: cancelled by the client`);
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}

/** A client-streaming RPC; `handler` reads the messages and returns the one response. */
export function wrapClientStream<Req, Res>(rpc: string, log: Logger, handler: (messages: AsyncIterable<Req>, ctx: CallContext) => Promise<Res>, observe?: RpcObserve): CallHandler {
  return (call) => {
    const messages = requestMessages<Req>(rpc, call);
    serve(rpc, log, call, (ctx) => handler(messages, ctx), (status, res) => call.end(status, res), observe);
  };
}
