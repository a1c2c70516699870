import * as grpc from '@grpc/grpc-js';
import { performServerHandshake } from 'node:http2';
import type { Duplex } from 'node:stream';

/** A refused connection is closed after this long, whether or not it asked anything. */
const REFUSE_TIMEOUT_MS = 10_000;

/** grpc-message is percent-encoded: bytes outside printable ASCII, and `%` itself. */
function grpcMessage(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Answers the first call made on `socket` (an HTTP/2 client's connection) with `code` and
 * `message` and closes the connection: a client the listener will not serve learns why in
 * its own terms (a gRPC status) instead of a reset. grpc-js is not given the connection.
 */
export function refuseCalls(socket: Duplex, code: grpc.status, message: string): void {
  socket.on('error', () => socket.destroy());
  const session = performServerHandshake(socket);
  const timer = setTimeout(() => session.destroy(), REFUSE_TIMEOUT_MS);
  session.on('error', () => session.destroy());
  session.on('close', () => {
    clearTimeout(timer);
    socket.destroy();
  });
  session.on('stream', (stream) => {
    stream.on('error', () => stream.destroy());
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': grpcMessage(message) },
      { endStream: true },
    );
    session.close();
  });
}
