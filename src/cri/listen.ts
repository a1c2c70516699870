/**
 * Where the CRI server takes its connections: the daemon accepts them itself, on the unix
 * socket and on the mutual-TLS TCP listener, and hands each one to the gRPC server
 * (rpc-server.ts), which takes any `:authority` (kubelet up to 1.26 sends the socket path).
 * The TCP listener also carries the streaming server's connections (exec, attach,
 * port-forward over HTTP/1.1 upgrades), so that a remote client streams over the same
 * authenticated listener and not over the streaming server's own, unauthenticated, port.
 */
import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';
import { describeSubject, type CertAllowList, type PeerNames } from '../util/cert-allow.js';
import { messageOf } from '../errors.js';
import { Status } from './grpc-status.js';
import type { RpcServer } from './rpc-server.js';

export interface TlsFiles {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** The TCP listener's certificate files and allow-list, replaceable while it serves. */
export interface TlsListener {
  /**
   * New connections use `files` from now on; open ones keep what they were made with (TLS
   * 1.3 only: no renegotiation can change that). Files that do not make a context (a bad
   * PEM, a key that is not the certificate's, a CA bundle with no certificate) throw, and
   * the old ones stay.
   */
  reload(files: TlsFiles): X509Certificate;
  /**
   * New connections are checked against `allow` from now on, and the open connections (gRPC
   * and streaming) whose client certificate it no longer lets in are closed; returns how many were.
   */
  setAllowList(allow: CertAllowList): number;
}

/** TLS 1.3 only: the listener's clients are kubelet-era gRPC clients, and 1.3 has no renegotiation. */
const TLS_MIN_VERSION = 'TLSv1.3';
/** A refused client is closed after this long, whether or not it read the answer. */
const REFUSE_TIMEOUT_MS = 10_000;

/** What the TCP listener speaks on a connection: gRPC (HTTP/2) or the streaming server's HTTP/1.1. */
type Protocol = 'h2' | 'http/1.1';

/** Hands an admitted HTTP/1.1 connection to the streaming server. */
export type StreamingAcceptor = (socket: TLSSocket) => void;

/**
 * Node's TLS, loaded when the TCP listener is asked for: a daemon on its unix socket alone (the
 * default) does not load it (about 1.5 MiB resident in bare Node).
 */
const tls = (): typeof import('node:tls') => process.getBuiltinModule('node:tls');

/** Checks `files` as a server context; returns the server's certificate. */
function checkTlsFiles(files: TlsFiles): X509Certificate {
  tls().createSecureContext({ ca: files.ca, cert: files.cert, key: files.key, minVersion: TLS_MIN_VERSION });
  // createSecureContext takes a CA file with no certificate in it: every client would fail.
  const cas = files.ca.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^]*?-----END CERTIFICATE-----/g) ?? [];
  if (cas.length === 0) throw new Error('the CA file holds no PEM certificate');
  for (const pem of cas) new X509Certificate(pem);
  return new X509Certificate(files.cert);
}

/** Answers an HTTP/1.1 client the listener will not serve with 403 and why, and closes. */
function refuseHttp(socket: TLSSocket, message: string): void {
  socket.on('error', () => socket.destroy());
  const body = `${message}\n`;
  socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), REFUSE_TIMEOUT_MS).unref();
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

/** Serves `rpc` on a unix socket and, when asked, on TCP with mutual TLS. */
export class CriListeners {
  private readonly servers: Server[] = [];

  constructor(
    private readonly rpc: RpcServer,
    private readonly log: Logger,
  ) {}

  /** Stops accepting; the connections made are the gRPC server's to close (its shutdown), or the streaming server's. */
  close(): void {
    for (const server of this.servers) server.close();
  }

  unix(path: string): Promise<void> {
    const server = createServer((socket) => this.rpc.accept(socket));
    this.servers.push(server);
    server.on('error', (err) => this.log.error('CRI socket listener', { socket: path, error: messageOf(err) }));
    return listening(server, (cb) => server.listen(path, cb));
  }

  /**
   * `address` is tcp://HOST:PORT; a client certificate the CA did not sign is refused by
   * TLS, one it signed but `allow` does not list gets PERMISSION_DENIED for its calls (403
   * for a streaming request). With `streaming`, the listener offers ALPN `http/1.1` beside
   * `h2`, and the connections that negotiate it go there once their certificate is let in.
   * So does a connection that negotiated nothing: a TLS client without ALPN speaks HTTP/1.1
   * (RFC 7301), and HTTP/2 over TLS requires ALPN h2 (RFC 9113 3.2).
   */
  async tls(address: string, files: TlsFiles, initialAllow: CertAllowList, streaming?: StreamingAcceptor): Promise<TlsListener> {
    const url = new URL(address);
    checkTlsFiles(files);
    let allow = initialAllow;
    /** The connections let in, with their client's names, for a narrower allow-list to close. */
    const admitted = new Map<TLSSocket, PeerNames>();
    const serve = (socket: TLSSocket): void => {
      // No ALPN: HTTP/1.1 (see above); without a streaming server, everything is gRPC's, as before.
      const protocol: Protocol = streaming && socket.alpnProtocol !== 'h2' ? 'http/1.1' : 'h2';
      const peer = socket.getPeerCertificate() as Partial<PeerNames> & { serialNumber?: string };
      const names: PeerNames = { subject: peer.subject, subjectaltname: peer.subjectaltname };
      if (allow.allows(names)) {
        admitted.set(socket, names);
        socket.once('close', () => admitted.delete(socket));
        if (protocol === 'h2' || !streaming) {
          this.rpc.accept(socket);
          return;
        }
        this.log.debug('TLS client: a streaming connection', { peer: socket.remoteAddress, subject: describeSubject(names.subject) });
        streaming(socket);
        return;
      }
      const subject = describeSubject(names.subject);
      this.log.warn('TLS client refused: its certificate is not in remote.allowed_subjects or remote.allowed_sans', {
        peer: socket.remoteAddress,
        subject,
        subjectAltName: names.subjectaltname ?? '',
        serial: peer.serialNumber,
        protocol,
      });
      const why = `client certificate "${subject}" is not allowed by the daemon's remote.allowed_subjects or remote.allowed_sans`;
      if (protocol === 'h2' || !streaming) this.rpc.refuse(socket, { code: Status.PERMISSION_DENIED, details: why }, REFUSE_TIMEOUT_MS);
      else refuseHttp(socket, why);
    };
    const server = tls().createServer(
      {
        ca: files.ca,
        cert: files.cert,
        key: files.key,
        minVersion: TLS_MIN_VERSION,
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: streaming ? ['h2', 'http/1.1'] : ['h2'],
      },
      serve,
    );
    this.servers.push(server);
    server.on('tlsClientError', (err, socket) => {
      this.log.info('TLS client refused', { peer: socket.remoteAddress, error: messageOf(err) });
    });
    server.on('error', (err) => this.log.error('CRI TCP listener', { listen: address, error: messageOf(err) }));
    await listening(server, (cb) => server.listen(Number(url.port), url.hostname.replace(/^\[|\]$/g, ''), cb));
    return {
      reload(next) {
        const cert = checkTlsFiles(next);
        server.setSecureContext({ ca: next.ca, cert: next.cert, key: next.key, minVersion: TLS_MIN_VERSION });
        return cert;
      },
      setAllowList: (next) => {
        allow = next;
        let closed = 0;
        for (const [socket, names] of admitted) {
          if (next.allows(names)) continue;
          admitted.delete(socket);
          socket.destroy();
          closed++;
        }
        return closed;
      },
    };
  }
}
