import type * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { logLevelFor, toGrpcError } from './status-map.js';

/** What every handler gets besides its request. */
export interface CallContext {
  /** A short id that names this request in every log line it causes. */
  readonly id: string;
  readonly log: Logger;
  /** Aborted when the client cancels or its deadline passes. */
  readonly signal: AbortSignal;
}

export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;

function begin(
  rpc: string,
  log: Logger,
  call: { on(event: 'cancelled', listener: () => void): unknown },
): { ctx: CallContext; elapsedMs(): number } {
  const id = randomBytes(6).toString('hex');
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort(new Error(`${rpc}: cancelled by the client`)));
  const start = process.hrtime.bigint();
  return {
    ctx: { id, log: log.child({ rpc, req: id }), signal: controller.signal },
    elapsedMs: () => Number(process.hrtime.bigint() - start) / 1e6,
  };
}

/** The wrapper around every unary RPC: request id, child logger, timing, error mapping. */
export function wrapUnary<Req, Res>(
  rpc: string,
  log: Logger,
  handler: UnaryHandler<Req, Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const { ctx, elapsedMs } = begin(rpc, log, call);
    Promise.resolve()
      .then(() => handler(call.request, ctx))
      .then(
        (response) => {
          ctx.log.debug('rpc done', { ms: round(elapsedMs()) });
          callback(null, response);
        },
        (err: unknown) => {
          const status = toGrpcError(err);
          ctx.log.log(logLevelFor(status.code), 'rpc failed', {
            ms: round(elapsedMs()),
            code: status.code,
            error: status.details,
          });
          callback(status);
        },
      );
  };
}

/** A server-streaming RPC; `handler` writes to the stream and resolves when it is done. */
export function wrapServerStream<Req, Res>(
  rpc: string,
  log: Logger,
  handler: (request: Req, write: (message: Res) => Promise<void>, ctx: CallContext) => Promise<void>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const { ctx, elapsedMs } = begin(rpc, log, call);
    Promise.resolve()
      .then(() =>
        handler(
          call.request,
          // Waits for the client to drain what is sent, so a large stream is not buffered whole.
          async (m) => {
            if (!call.write(m)) await new Promise<void>((r) => call.once('drain', () => r()));
          },
          ctx,
        ),
      )
      .then(
        () => {
          ctx.log.debug('rpc done', { ms: round(elapsedMs()) });
          call.end();
        },
        (err: unknown) => {
          const status = toGrpcError(err);
          ctx.log.log(logLevelFor(status.code), 'rpc failed', {
            ms: round(elapsedMs()),
            code: status.code,
            error: status.details,
          });
          call.emit('error', status);
        },
      );
  };
}

/** A client-streaming RPC; `handler` reads the messages and returns the one response. */
export function wrapClientStream<Req, Res>(
  rpc: string,
  log: Logger,
  handler: (messages: AsyncIterable<Req>, ctx: CallContext) => Promise<Res>,
): grpc.handleClientStreamingCall<Req, Res> {
  return (call, callback) => {
    const { ctx, elapsedMs } = begin(rpc, log, call);
    Promise.resolve()
      .then(() => handler(call as AsyncIterable<Req>, ctx))
      .then(
        (response) => {
          ctx.log.debug('rpc done', { ms: round(elapsedMs()) });
          callback(null, response);
        },
        (err: unknown) => {
          const status = toGrpcError(err);
          ctx.log.log(logLevelFor(status.code), 'rpc failed', { ms: round(elapsedMs()), code: status.code, error: status.details });
          callback(status);
        },
      );
  };
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;
