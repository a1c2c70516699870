/**
 * Where the CRI server takes its connections. The daemon accepts them itself, on the unix
 * socket and on the mutual-TLS TCP listener, and hands each one to grpc-js through a
 * connection injector, with the client's `:authority` rewritten where Node's HTTP/2 server
 * would refuse it (util/h2-accept.ts: kubelet up to 1.26 sends the socket path there).
 */
import * as grpc from '@grpc/grpc-js';
import { createServer, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Logger } from '../log.js';
import { messageOf } from '../errors.js';
import { Http2Gate } from '../util/h2-accept.js';

export interface TlsFiles {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

function listening(server: Server, listen: (cb: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    listen(() => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Serves `grpcServer` on a unix socket and, when asked, on TCP with mutual TLS. */
export class CriListeners {
  private readonly gate: Http2Gate;
  private readonly servers: Server[] = [];

  constructor(grpcServer: grpc.Server, private readonly log: Logger) {
    const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.gate = new Http2Gate(
      (conn, rewritten) => {
        if (rewritten) this.log.debug('CRI connection: the client sends an authority Node\'s HTTP/2 server refuses; its requests are rewritten');
        injector.injectConnection(conn);
      },
      // Debug: anything that connects and is not an HTTP/2 client (a port scan) says so.
      (err) => this.log.debug('CRI connection closed: protocol error', { error: messageOf(err) }),
    );
  }

  /**
   * Stops accepting, and ends the connections that have not made their first request yet;
   * the others are grpc-js's to close (its shutdown).
   */
  close(): void {
    for (const server of this.servers) server.close();
    this.gate.close();
  }

  unix(path: string): Promise<void> {
    const server = createServer((socket) => this.gate.accept(socket));
    this.servers.push(server);
    server.on('error', (err) => this.log.error('CRI socket listener', { socket: path, error: messageOf(err) }));
    return listening(server, (cb) => server.listen(path, cb));
  }

  /** `address` is tcp://HOST:PORT; a client certificate the CA did not sign is refused. */
  tls(address: string, files: TlsFiles): Promise<void> {
    const url = new URL(address);
    const server = createTlsServer(
      { ca: files.ca, cert: files.cert, key: files.key, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] },
      (socket) => this.gate.accept(socket),
    );
    this.servers.push(server);
    server.on('tlsClientError', (err, socket) => {
      this.log.info('TLS client refused', { peer: socket.remoteAddress, error: messageOf(err) });
    });
    server.on('error', (err) => this.log.error('CRI TCP listener', { listen: address, error: messageOf(err) }));
    return listening(server, (cb) => server.listen(Number(url.port), url.hostname.replace(/^\[|\]$/g, ''), cb));
  }
}
