import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ExecStreamOptions, StdioSession, TerminalSize } from '../oci/stdio-session.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { wsMaxPayload, type StreamingLimits } from './limits.js';
import { serveStdio, type ClientStreams, type StreamOptions } from './remote-command.js';
import { SpdySession, type SpdyLimitEvent } from './spdy-session.js';
import { SPDY_COMMAND_PROTOCOLS, SPDY_PORT_FORWARD_PROTOCOLS, serveSpdyPortForward, spdyClientStreams } from './spdy-streams.js';
import { WS_COMMAND_PROTOCOLS, WS_PORT_FORWARD_PROTOCOLS, serveWsPortForward, wsClientStreams } from './ws-channels.js';

/** A request the CRI handed out a URL for, waiting for its client to connect. */
export type PendingRequest =
  | { kind: 'exec'; containerId: string; cmd: string[]; options: StreamOptions }
  | { kind: 'attach'; containerId: string; options: StreamOptions }
  | { kind: 'portforward'; sandboxId: string; ports: number[] };

/** What the connections run against: the container and sandbox services. */
export interface StreamTargets {
  exec(containerId: string, cmd: string[], o: ExecStreamOptions): Promise<StdioSession>;
  attach(containerId: string, o: { tty: boolean; stdin: boolean }): Promise<StdioSession>;
  portForward(sandboxId: string, port: number, stream: Duplex): Promise<void>;
}

export interface StreamingServerOptions {
  /** host:port; port 0 picks a free one. */
  address: string;
  idleTimeoutMs: number;
  /** What a client has to upgrade its connection in, and then to open its streams in. */
  streamCreationTimeoutMs: number;
  limits: StreamingLimits;
  /** Takes the request a token stands for out of the cache. */
  consume(token: string): PendingRequest | undefined;
  targets: StreamTargets;
  log: Logger;
}

/** How long a websocket closed over a protocol error waits for the peer's close frame. */
const WS_CLOSE_GRACE_MS = 1_000;
/** How often refused connections are logged, at most. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

const ROUTE = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)\/?(?:\?.*)?$/;

/**
 * The HTTP server exec, attach and port-forward clients connect to with the URL the CRI
 * call returned: an HTTP/1.1 upgrade to SPDY/3.1 (kubelet, kubectl, crictl, critest) or to
 * websocket, then Kubernetes' remotecommand or portforward protocol over it.
 *
 * Clients are whoever reaches the port; the tokens are the only authorisation. So nothing a
 * client sends may grow the daemon without bound or end it: connections are capped in number
 * (one past the cap is answered 503 and closed), each has until the stream creation timeout
 * to upgrade, an exec or attach until then again to open its streams, and every connection
 * is dropped after the idle timeout; SPDY and websocket sessions are capped as
 * src/streaming/limits.ts says; every socket and websocket has an error handler.
 */
export class StreamingServer {
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<Socket>();
  /** Sockets answered 503 for being past the connection cap: nothing they send is served. */
  private readonly refused = new WeakSet<Socket>();
  /** Each socket's deadline to upgrade by. */
  private readonly deadlines = new WeakMap<Socket, NodeJS.Timeout>();
  private base = '';
  private refusals = 0;
  private refusalLoggedAt = -Infinity;

  constructor(private readonly o: StreamingServerOptions) {
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: wsMaxPayload(o.limits) });
    this.wss.on('error', (err: Error) => o.log.warn('streaming: websocket server error', { error: err.message }));
    this.server = createServer((req, res) => this.plainRequest(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    this.server.on('connection', (socket: Socket) => this.connection(socket));
    this.server.on('clientError', (err: Error, socket: Duplex) => {
      o.log.debug('streaming: bad request', { error: err.message });
      socket.destroy();
    });
    this.server.on('error', (err: Error) => o.log.warn('streaming: server error', { error: err.message }));
  }

  /** `http://host:port`, once listening. */
  get baseUrl(): string {
    return this.base;
  }

  async listen(): Promise<void> {
    const at = this.o.address.lastIndexOf(':');
    const host = this.o.address.slice(0, at).replace(/^\[|\]$/g, '');
    const port = Number(this.o.address.slice(at + 1));
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const bound = this.server.address() as AddressInfo;
    this.base = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private connection(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    if (this.sockets.size >= this.o.limits.maxConnections) {
      this.refused.add(socket);
      // One line per burst: a client that keeps connecting must not flood the log.
      this.refusals++;
      if (Date.now() - this.refusalLoggedAt >= REFUSAL_LOG_INTERVAL_MS) {
        this.o.log.warn('streaming: connections refused: too many connections', { max: this.o.limits.maxConnections, refused: this.refusals, remote: socket.remoteAddress });
        this.refusalLoggedAt = Date.now();
        this.refusals = 0;
      }
      const body = 'too many streaming connections\n';
      socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, () => socket.destroy());
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    this.sockets.add(socket);
    const deadline = setTimeout(() => {
      this.o.log.info('streaming: connection closed: not upgraded in time', { remote: socket.remoteAddress, timeoutMs: this.o.streamCreationTimeoutMs });
      socket.destroy();
    }, this.o.streamCreationTimeoutMs);
    deadline.unref();
    this.deadlines.set(socket, deadline);
    socket.once('close', () => {
      clearTimeout(deadline);
      this.sockets.delete(socket);
    });
  }

  private route(req: IncomingMessage): PendingRequest | undefined {
    const m = ROUTE.exec(req.url ?? '');
    if (!m) return undefined;
    const pending = this.o.consume(m[2]!);
    return pending?.kind === m[1] ? pending : undefined;
  }

  private plainRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.refused.has(req.socket)) {
      req.socket.destroy();
      return;
    }
    const pending = this.route(req);
    if (!pending) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      return;
    }
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end('unable to upgrade: missing upgrade headers in request\n');
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (this.refused.has(socket)) {
      socket.destroy();
      return;
    }
    const pending = this.route(req);
    if (!pending) {
      reject(socket, 404, '404 page not found\n');
      return;
    }
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (upgrade.includes('websocket')) this.websocket(req, socket, head, pending);
    else if (upgrade.includes('spdy/3.1')) this.spdy(req, socket, head, pending);
    else reject(socket, 400, `unable to upgrade: unsupported upgrade ${JSON.stringify(req.headers.upgrade)}\n`);
  }

  private spdy(req: IncomingMessage, socket: Socket, head: Buffer, pending: PendingRequest): void {
    const offered = headerList(req.headers['x-stream-protocol-version']);
    const supported = pending.kind === 'portforward' ? SPDY_PORT_FORWARD_PROTOCOLS : SPDY_COMMAND_PROTOCOLS;
    if (offered.length === 0) {
      reject(socket, 400, 'unable to upgrade: X-Stream-Protocol-Version is required\n');
      return;
    }
    const protocol = offered.find((p) => supported.includes(p));
    if (!protocol) {
      reject(socket, 403, `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${supported.join(' ')}]\n`);
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
    if (head.length > 0) socket.unshift(head);
    this.upgraded(socket);
    const session = new SpdySession(socket, 'server', this.o.limits);
    const id = randomBytes(4).toString('hex');
    const what = pending.kind === 'portforward' ? { sandbox: pending.sandboxId } : { container: pending.containerId };
    session.on('protocolError', (err: Error) => this.o.log.warn('streaming: SPDY protocol error: connection closed', { session: id, kind: pending.kind, ...what, error: err.message }));
    // The first time each cap is hit is logged: a client hitting one in a loop must not flood the log.
    const logged = new Set<SpdyLimitEvent['kind']>();
    session.on('limit', (e: SpdyLimitEvent) => {
      if (logged.has(e.kind)) return;
      logged.add(e.kind);
      this.o.log.warn('streaming: SPDY limit reached', { session: id, kind: pending.kind, ...what, limit: e.kind, detail: e.message });
    });
    if (pending.kind === 'portforward') {
      serveSpdyPortForward(session, pending.sandboxId, (port, stream) => this.o.targets.portForward(pending.sandboxId, port, stream), this.o.streamCreationTimeoutMs, this.o.log);
      return;
    }
    spdyClientStreams(session, protocol, pending.options, this.o.streamCreationTimeoutMs).then(
      (client) => this.command(pending, client),
      (err: unknown) => this.o.log.info('streaming: no streams', { session: id, kind: pending.kind, container: pending.containerId, error: messageOf(err) }),
    );
  }

  private websocket(req: IncomingMessage, socket: Socket, head: Buffer, pending: PendingRequest): void {
    const offered = headerList(req.headers['sec-websocket-protocol']);
    const supported = pending.kind === 'portforward' ? WS_PORT_FORWARD_PROTOCOLS : WS_COMMAND_PROTOCOLS;
    const protocol = offered.length === 0 ? '' : offered.find((p) => supported.includes(p));
    if (protocol === undefined) {
      reject(socket, 403, '');
      return;
    }
    this.upgraded(socket);
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      // ws reports a protocol error (a message past maxPayload, a bad frame) as 'error' and
      // closes the connection itself; unheard, that 'error' would end the daemon.
      const id = randomBytes(4).toString('hex');
      const what = pending.kind === 'portforward' ? { sandbox: pending.sandboxId } : { container: pending.containerId };
      ws.on('error', (err: Error) => {
        this.o.log.warn('streaming: websocket error: connection closed', { session: id, kind: pending.kind, ...what, error: err.message });
        // ws has sent its close frame; a peer that does not answer it is not waited for long.
        setTimeout(() => ws.terminate(), WS_CLOSE_GRACE_MS).unref();
      });
      if (pending.kind === 'portforward') {
        serveWsPortForward(ws, protocol, pending.sandboxId, pending.ports, (port, stream) => this.o.targets.portForward(pending.sandboxId, port, stream), this.o.log);
        return;
      }
      this.command(pending, wsClientStreams(ws, protocol, pending.options));
    });
  }

  private command(pending: Exclude<PendingRequest, { kind: 'portforward' }>, client: ClientStreams): void {
    const log = this.o.log.child({ stream: pending.kind, container: pending.containerId });
    const o = { tty: pending.options.tty, stdin: pending.options.stdin };
    const start =
      pending.kind === 'exec'
        ? (size?: TerminalSize) => this.o.targets.exec(pending.containerId, pending.cmd, { ...o, ...(size ? { size } : {}) })
        : () => this.o.targets.attach(pending.containerId, o);
    log.debug('stream started');
    void serveStdio(client, start, pending.kind === 'exec' ? pending.cmd : [], log, o.tty).then(() => log.debug('stream ended'));
  }

  /**
   * The upgrade deadline is met; from now a connection with no traffic for the idle timeout
   * is dropped, as kubelet's is (StreamIdleTimeout).
   */
  private upgraded(socket: Socket): void {
    clearTimeout(this.deadlines.get(socket));
    socket.setTimeout(this.o.idleTimeoutMs, () => socket.destroy());
  }
}

function headerList(value: string | string[] | undefined): string[] {
  const values = Array.isArray(value) ? value : value ? [value] : [];
  return values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

function reject(socket: Socket, status: number, body: string): void {
  const reason = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found' }[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
