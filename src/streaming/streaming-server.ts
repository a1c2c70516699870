import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createRequire } from 'node:module';
import type { WebSocket, WebSocketServer } from 'ws';
import type { ExecStreamOptions, StdioSession, TerminalSize } from '../oci/stdio-session.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { ByteBudget } from './byte-budget.js';
import { wsMaxPayload, type StreamingLimits } from './limits.js';
import { serveStdio, type ClientStreams, type StreamOptions } from './remote-command.js';
import { SpdySession, type SpdyLimitEvent } from './spdy-session.js';
import { SPDY_COMMAND_PROTOCOLS, SPDY_PORT_FORWARD_PROTOCOLS, serveSpdyPortForward, spdyClientStreams } from './spdy-streams.js';
import type { ExecOverrides } from '../oci/exec-overrides.js';
import { WS_COMMAND_PROTOCOLS, WS_PORT_FORWARD_PROTOCOLS, serveWsPortForward, wsClientStreams } from './ws-channels.js';

/** A request the CRI handed out a URL for, waiting for its client to connect. */
export type PendingRequest =
  | { kind: 'exec'; containerId: string; cmd: string[]; options: StreamOptions; overrides?: ExecOverrides }
  | { kind: 'attach'; containerId: string; options: StreamOptions }
  | { kind: 'portforward'; sandboxId: string; ports: number[] };

export type SessionKind = PendingRequest['kind'];

/** Upgraded connections by kind: open now, and admitted since the server started. */
export interface SessionCounts {
  open: Record<SessionKind, number>;
  admitted: Record<SessionKind, number>;
}

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
  /** What a client has to send its request (the upgrade) in, once connected. */
  handshakeTimeoutMs: number;
  /** What an exec or attach client has to open its streams in once upgraded, and a port-forward stream to find its pair. */
  streamCreationTimeoutMs: number;
  limits: StreamingLimits;
  /** Takes the request a token stands for out of the cache. */
  consume(token: string): PendingRequest | undefined;
  targets: StreamTargets;
  log: Logger;
}

/** How long a websocket closed over a protocol error waits for the peer's close frame. */
const WS_CLOSE_GRACE_MS = 1_000;
/** How often a repeated event (a refused or closed connection) is logged, at most. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

const ROUTE = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)\/?(?:\?.*)?$/;

/**
 * The HTTP server exec, attach and port-forward clients connect to with the URL the CRI
 * call returned: an HTTP/1.1 upgrade to SPDY/3.1 (kubelet, kubectl, crictl, critest) or to
 * websocket, then Kubernetes' remotecommand or portforward protocol over it.
 *
 * Clients are whoever reaches the port; the tokens are the only authorisation. So nothing a
 * client sends may grow the daemon without bound or end it: a connection has the handshake
 * timeout to upgrade, and connections not upgraded yet are capped in number (one more closes
 * the oldest of them, so that idle sockets cannot lock clients with a token out); connections
 * upgraded with a valid token are capped too (one more is answered 503); an exec or attach
 * has the stream creation timeout to open its streams, and every upgraded connection is
 * dropped after the idle timeout; SPDY and websocket sessions are capped as
 * src/streaming/limits.ts says, and share one byte budget; every socket and websocket has an
 * error handler.
 */
export class StreamingServer {
  private readonly server: Server;
  private wssInstance: WebSocketServer | undefined;
  /** Connected, not upgraded yet, oldest first. */
  private readonly pending = new Set<Socket>();
  /** Upgraded with a valid token, and what for. */
  private readonly upgradedSockets = new Map<Socket, SessionKind>();
  private readonly admitted: Record<SessionKind, number> = { exec: 0, attach: 0, portforward: 0 };
  /** Each pending socket's deadline to upgrade by. */
  private readonly deadlines = new WeakMap<Socket, NodeJS.Timeout>();
  private readonly budget: ByteBudget;
  private base = '';
  private readonly bursts = new Map<string, { count: number; loggedAt: number }>();

  constructor(private readonly o: StreamingServerOptions) {
    this.budget = new ByteBudget(o.limits.maxTotalBufferedBytes);
    this.server = createServer((req, res) => this.plainRequest(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    this.server.on('connection', (socket: Socket) => this.connection(socket));
    this.server.on('clientError', (err: Error, socket: Duplex) => {
      o.log.debug('streaming: bad request', { error: err.message });
      socket.destroy();
    });
    this.server.on('error', (err: Error) => o.log.warn('streaming: server error', { error: err.message }));
  }

  /**
   * The websocket server, made at the first websocket upgrade: ws is loaded then, not at start
   * (a daemon that never streams over websockets, as with kubelet up to 1.29's SPDY, never
   * needs it). ws is CommonJS, so a synchronous require serves here.
   */
  private get wss(): WebSocketServer {
    if (!this.wssInstance) {
      const ws = createRequire(import.meta.url)('ws') as typeof import('ws');
      this.wssInstance = new ws.WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: wsMaxPayload(this.o.limits) });
      this.wssInstance.on('error', (err: Error) => this.o.log.warn('streaming: websocket server error', { error: err.message }));
    }
    return this.wssInstance;
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

  /** For the metrics, at scrape time. */
  sessions(): SessionCounts {
    const open: Record<SessionKind, number> = { exec: 0, attach: 0, portforward: 0 };
    for (const kind of this.upgradedSockets.values()) open[kind]++;
    return { open, admitted: { ...this.admitted } };
  }

  /**
   * Serves a connection accepted elsewhere (the daemon's mutual-TLS listener, which has
   * checked the client's certificate) as one accepted on this server's own port: the same
   * handshake timeout, caps, idle timeout and token check.
   */
  acceptConnection(socket: Socket): void {
    // The HTTP server's own 'connection' listeners: its parser, and `connection` below.
    this.server.emit('connection', socket);
  }

  async close(): Promise<void> {
    for (const s of [...this.pending, ...this.upgradedSockets.keys()]) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private connection(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    if (this.pending.size >= this.o.limits.maxPendingConnections) {
      // The oldest goes: a client with a token gets in however many sockets idle before it.
      const oldest = this.pending.values().next().value!;
      this.pending.delete(oldest);
      this.burst('pending', 'streaming: connection closed: too many connections not upgraded yet', { max: this.o.limits.maxPendingConnections, remote: oldest.remoteAddress });
      oldest.destroy();
    }
    this.pending.add(socket);
    const deadline = setTimeout(() => {
      this.burst('deadline', 'streaming: connection closed: not upgraded in time', { remote: socket.remoteAddress, timeoutMs: this.o.handshakeTimeoutMs });
      socket.destroy();
    }, this.o.handshakeTimeoutMs);
    deadline.unref();
    this.deadlines.set(socket, deadline);
    socket.once('close', () => {
      clearTimeout(deadline);
      this.pending.delete(socket);
      this.upgradedSockets.delete(socket);
    });
  }

  /**
   * Logs one line per burst of the same event: a client that repeats it must not flood the
   * log. The line carries how many there were since the last one.
   */
  private burst(key: string, message: string, meta: Record<string, unknown>): void {
    const b = this.bursts.get(key) ?? { count: 0, loggedAt: -Infinity };
    this.bursts.set(key, b);
    b.count++;
    if (Date.now() - b.loggedAt < REFUSAL_LOG_INTERVAL_MS) return;
    this.o.log.warn(message, { ...meta, count: b.count });
    b.loggedAt = Date.now();
    b.count = 0;
  }

  /**
   * A connection with a valid token is about to be upgraded: it leaves the pending ones and
   * counts toward `maxConnections`, or is answered 503 if they are all taken. From now a
   * connection with no traffic for the idle timeout is dropped, as kubelet's is
   * (StreamIdleTimeout); for a websocket, `setIdle` is called once ws has the socket (ws
   * clears a socket's timeout when it takes it).
   */
  private admit(socket: Socket, kind: SessionKind): boolean {
    if (this.upgradedSockets.size >= this.o.limits.maxConnections) {
      this.burst('refused', 'streaming: connections refused: too many connections', { max: this.o.limits.maxConnections, remote: socket.remoteAddress });
      reject(socket, 503, 'too many streaming connections\n');
      return false;
    }
    clearTimeout(this.deadlines.get(socket));
    this.pending.delete(socket);
    this.upgradedSockets.set(socket, kind);
    this.admitted[kind]++;
    return true;
  }

  private setIdle(socket: Socket, session: string): void {
    socket.setTimeout(this.o.idleTimeoutMs, () => {
      this.o.log.info('streaming: connection closed: idle', { session, timeoutMs: this.o.idleTimeoutMs });
      socket.destroy();
    });
  }

  private route(req: IncomingMessage): PendingRequest | undefined {
    const m = ROUTE.exec(req.url ?? '');
    if (!m) return undefined;
    const pending = this.o.consume(m[2]!);
    return pending?.kind === m[1] ? pending : undefined;
  }

  private plainRequest(req: IncomingMessage, res: ServerResponse): void {
    const pending = this.route(req);
    if (!pending) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      return;
    }
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end('unable to upgrade: missing upgrade headers in request\n');
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
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
    if (!this.admit(socket, pending.kind)) return;
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
    if (head.length > 0) socket.unshift(head);
    const tag = sessionTag(pending);
    this.setIdle(socket, tag.session);
    const session = new SpdySession(socket, 'server', this.o.limits, this.budget);
    session.on('protocolError', (err: Error) => this.o.log.warn('streaming: SPDY protocol error: connection closed', { ...tag, error: err.message }));
    // The first time each cap is hit is logged: a client hitting one in a loop must not flood the log.
    const logged = new Set<SpdyLimitEvent['kind']>();
    session.on('limit', (e: SpdyLimitEvent) => {
      if (logged.has(e.kind)) return;
      logged.add(e.kind);
      this.o.log.warn('streaming: SPDY limit reached', { ...tag, limit: e.kind, detail: e.message });
    });
    if (pending.kind === 'portforward') {
      serveSpdyPortForward(session, pending.sandboxId, (port, stream) => this.o.targets.portForward(pending.sandboxId, port, stream), this.o.streamCreationTimeoutMs, this.o.log);
      return;
    }
    spdyClientStreams(session, protocol, pending.options, this.o.streamCreationTimeoutMs).then(
      (client) => this.command(pending, client),
      (err: unknown) => this.o.log.info('streaming: no streams', { ...tag, error: messageOf(err) }),
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
    if (!this.admit(socket, pending.kind)) return;
    const tag = sessionTag(pending);
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      // Set here, not before: ws clears the socket's timeout when it takes the socket.
      this.setIdle(socket, tag.session);
      // ws reports a protocol error (a message past maxPayload, a bad frame) as 'error' and
      // closes the connection itself; unheard, that 'error' would end the daemon.
      ws.on('error', (err: Error) => {
        this.o.log.warn('streaming: websocket error: connection closed', { ...tag, error: err.message });
        // ws has sent its close frame; a peer that does not answer it is not waited for long.
        setTimeout(() => ws.terminate(), WS_CLOSE_GRACE_MS).unref();
      });
      const max = this.o.limits.maxBufferedBytes;
      if (pending.kind === 'portforward') {
        const forward = (port: number, stream: Duplex): Promise<void> => this.o.targets.portForward(pending.sandboxId, port, stream);
        serveWsPortForward(ws, protocol, pending.sandboxId, pending.ports, forward, this.o.log, max, this.budget);
        return;
      }
      this.command(pending, wsClientStreams(ws, protocol, pending.options, max, this.budget));
    });
  }

  private command(pending: Exclude<PendingRequest, { kind: 'portforward' }>, client: ClientStreams): void {
    const log = this.o.log.child({ stream: pending.kind, container: pending.containerId });
    const o = { tty: pending.options.tty, stdin: pending.options.stdin };
    const start =
      pending.kind === 'exec'
        ? (size?: TerminalSize) => this.o.targets.exec(pending.containerId, pending.cmd, { ...o, ...(size ? { size } : {}), ...(pending.overrides ? { overrides: pending.overrides } : {}) })
        : () => this.o.targets.attach(pending.containerId, o);
    log.debug('stream started');
    void serveStdio(client, start, pending.kind === 'exec' ? pending.cmd : [], log, o.tty).then(() => log.debug('stream ended'));
  }
}

/** What a connection's log lines carry: a session id of its own, the kind, and the container or sandbox. */
function sessionTag(pending: PendingRequest): { session: string; kind: PendingRequest['kind']; container?: string; sandbox?: string } {
  const session = randomBytes(4).toString('hex');
  return pending.kind === 'portforward' ? { session, kind: pending.kind, sandbox: pending.sandboxId } : { session, kind: pending.kind, container: pending.containerId };
}

function headerList(value: string | string[] | undefined): string[] {
  const values = Array.isArray(value) ? value : value ? [value] : [];
  return values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

function reject(socket: Socket, status: number, body: string): void {
  const reason = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' }[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
