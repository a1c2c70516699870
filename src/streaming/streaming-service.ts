import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { StdioSession, ExecStreamOptions } from '../oci/stdio-session.js';
import type { ExecOverrides } from '../oci/exec-overrides.js';
import { failedPrecondition, invalidArgument } from '../errors.js';
import type { Logger } from '../log.js';
import type { StreamOptions } from './remote-command.js';
import type { StreamingLimits } from './limits.js';
import { RequestCache } from './request-cache.js';
import { StreamingServer, type PendingRequest, type SessionCounts } from './streaming-server.js';

export type { SessionCounts } from './streaming-server.js';

export interface StreamingDeps {
  containers: {
    status(id: string): Promise<{ id: string; state: string }>;
    execStream(id: string, cmd: string[], o: ExecStreamOptions): Promise<StdioSession>;
    attach(id: string): Promise<StdioSession>;
  };
  sandboxes: {
    status(id: string): { id: string; state: string };
    portForward(id: string, port: number, stream: Duplex): Promise<void>;
  };
  address: string;
  idleTimeoutMs: number;
  handshakeTimeoutMs: number;
  streamCreationTimeoutMs: number;
  limits: StreamingLimits;
  log: Logger;
}

/**
 * Exec, Attach and PortForward: each call is checked, kept under a single-use token and
 * answered with the URL its client then connects to on the streaming server.
 */
/** Ports one PortForward may name: the websocket protocol has a data and an error channel per port, numbered in one byte. */
const MAX_FORWARDED_PORTS = 128;

export class StreamingService {
  private readonly cache = new RequestCache<PendingRequest>();
  private readonly server: StreamingServer;

  constructor(private readonly deps: StreamingDeps) {
    this.server = new StreamingServer({
      address: deps.address,
      idleTimeoutMs: deps.idleTimeoutMs,
      handshakeTimeoutMs: deps.handshakeTimeoutMs,
      streamCreationTimeoutMs: deps.streamCreationTimeoutMs,
      limits: deps.limits,
      consume: (token) => this.cache.consume(token),
      targets: {
        exec: (id, cmd, o) => deps.containers.execStream(id, cmd, o),
        attach: (id) => deps.containers.attach(id),
        portForward: (id, port, stream) => deps.sandboxes.portForward(id, port, stream),
      },
      log: deps.log,
    });
  }

  async start(): Promise<void> {
    await this.server.listen();
    this.deps.log.info('streaming server listening', { url: this.server.baseUrl });
  }

  close(): Promise<void> {
    return this.server.close();
  }

  /** A connection the daemon's TLS listener admitted for streaming (StreamingServer.acceptConnection). */
  acceptConnection(socket: Socket): void {
    this.server.acceptConnection(socket);
  }

  /** Streaming sessions (upgraded connections) by kind, for the metrics. */
  sessions(): SessionCounts {
    return this.server.sessions();
  }

  async exec(containerId: string, cmd: string[], o: StreamOptions, overrides?: ExecOverrides): Promise<string> {
    if (!containerId) throw invalidArgument('Exec: missing required container_id');
    if (cmd.length === 0) throw invalidArgument(`container ${containerId}: exec: cmd is empty`);
    checkStreams(o, 'exec');
    const c = await this.running(containerId, 'exec');
    if (overrides?.detach) throw invalidArgument(`container ${c.id}: exec: a detached exec has no streams (ExecSync runs it)`);
    return this.url('exec', { kind: 'exec', containerId: c.id, cmd, options: o, ...(overrides ? { overrides } : {}) });
  }

  async attach(containerId: string, o: StreamOptions): Promise<string> {
    if (!containerId) throw invalidArgument('Attach: missing required container_id');
    checkStreams(o, 'attach');
    const c = await this.running(containerId, 'attach');
    return this.url('attach', { kind: 'attach', containerId: c.id, options: o });
  }

  portForward(sandboxId: string, ports: number[]): string {
    if (!sandboxId) throw invalidArgument('PortForward: missing required pod_sandbox_id');
    if (ports.length > MAX_FORWARDED_PORTS) throw invalidArgument(`sandbox ${sandboxId}: port-forward: ${ports.length} ports, at most ${MAX_FORWARDED_PORTS} (a websocket channel number is one byte, two per port)`);
    for (const p of ports) if (!Number.isInteger(p) || p <= 0 || p > 65535) throw invalidArgument(`sandbox ${sandboxId}: port-forward: invalid port ${p}`);
    const s = this.deps.sandboxes.status(sandboxId);
    if (s.state !== 'READY') throw failedPrecondition(`sandbox ${s.id}: port-forward: sandbox is not ready`);
    return this.url('portforward', { kind: 'portforward', sandboxId: s.id, ports });
  }

  private async running(id: string, what: string): Promise<{ id: string }> {
    const c = await this.deps.containers.status(id);
    if (c.state !== 'RUNNING') throw failedPrecondition(`container ${c.id}: ${what}: container is not running`);
    return c;
  }

  private url(kind: PendingRequest['kind'], request: PendingRequest): string {
    return `${this.server.baseUrl}/${kind}/${this.cache.insert(request)}`;
  }
}

function checkStreams(o: StreamOptions, what: string): void {
  if (o.tty && o.stderr) throw invalidArgument(`${what}: tty and stderr cannot both be true`);
  if (!o.stdin && !o.stdout && !o.stderr) throw invalidArgument(`${what}: one of stdin, stdout, or stderr must be set`);
}
