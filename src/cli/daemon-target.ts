import * as grpc from '@grpc/grpc-js';
import { CoracleError, type ErrorCode } from '../errors.js';

/**
 * Where a client reaches the daemon: its unix socket (a path), or a TCP address with the
 * client's certificate, key and the CA that signed the daemon's (mutual TLS only).
 */
export type DaemonTarget = string | { address: string; tls: { ca: Buffer; cert: Buffer; key: Buffer } };

/** The gRPC target and credentials of a daemon target. */
export function channelOf(t: DaemonTarget): { target: string; credentials: grpc.ChannelCredentials; display: string } {
  if (typeof t === 'string') return { target: `unix:${t}`, credentials: grpc.credentials.createInsecure(), display: `unix://${t}` };
  return { target: t.address, credentials: grpc.credentials.createSsl(t.tls.ca, t.tls.key, t.tls.cert), display: `tcp://${t.address}` };
}

/**
 * Where an exec or attach connects: the URL the daemon returned over its unix socket; over
 * TCP, the same path on the daemon's mutual-TLS listener, which serves the streaming server
 * too (the URL's own host is the daemon's streaming port, on its loopback and unauthenticated).
 */
export interface StreamEndpoint {
  url: string;
  tls?: { ca: Buffer; cert: Buffer; key: Buffer };
}

export function streamEndpoint(t: DaemonTarget, url: string): StreamEndpoint {
  if (typeof t === 'string') return { url: url.replace(/^http/, 'ws') };
  const u = new URL(url);
  return { url: `wss://${t.address}${u.pathname}${u.search}`, tls: t.tls };
}

/** A call's failure as the CLI reports it; a daemon that is not there says so plainly. */
export function fromGrpc(err: grpc.ServiceError, display: string): CoracleError {
  if (err.code === grpc.status.UNAVAILABLE) return new CoracleError('UNAVAILABLE', `cannot connect to the Coracle daemon at ${display}: is it running?${/handshake|certificate|SSL|TLS/i.test(err.details) ? ` (${err.details})` : ''}`);
  return new CoracleError((grpc.status[err.code] as ErrorCode) ?? 'INTERNAL', err.details || err.message);
}
