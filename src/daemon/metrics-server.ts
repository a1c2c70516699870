import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RpcObserve, RpcObserver } from '../cri/wrap.js';
import { CoracleError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import type { SessionCounts } from '../streaming/streaming-service.js';
import type { Recorders } from './compose.js';

/*
 * The daemon's Prometheus metrics and the HTTP endpoint that serves them. This module (and
 * prom-client with it) is loaded only when [metrics] address is set: daemon.ts imports it
 * dynamically, so the bundle has it in a chunk of its own. The layers below know only the
 * narrow recorder interfaces (cri's RpcObserver, image's PullMetrics, the containers'
 * onOomKill, the streaming server's session counts); the names are in docs/metrics.md.
 */

/** What the state gauges are computed from, at scrape time. */
export interface MetricsSources {
  containers(): Promise<readonly { state: string }[]>;
  pods(): readonly { state: string }[];
  streamingSessions(): SessionCounts;
}

export interface MetricsListener {
  /** `http://host:port/metrics`. */
  readonly url: string;
  close(): Promise<void>;
}

/** CRI calls run from a millisecond (Status, lists) to minutes (a pull, a stop with a long grace). */
const RPC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** A pull: under a second from a local mirror, minutes for a large image over a slow link. */
const PULL_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200];

const CONTAINER_STATES = ['created', 'running', 'exited'] as const;
const POD_STATES = ['ready', 'notready'] as const;

/** Caps on what a scraper (whoever reaches the address) can hold: time, header size, connections. */
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_MS = 5_000;
const IDLE_TIMEOUT_MS = 30_000;
/** How often Node checks the two request timeouts (its default, 30 s, would let them run 30 s over). */
const TIMEOUT_CHECK_MS = 1_000;
const MAX_HEADER_BYTES = 8 * 1024;
const MAX_CONNECTIONS = 16;

/** Counts by lowercased state, every state of `states` present (zero if none). */
function countStates<S extends string>(states: readonly S[], items: readonly { state: string }[]): Record<S, number> {
  const counts = Object.fromEntries(states.map((s) => [s, 0])) as Record<S, number>;
  for (const { state } of items) {
    const s = state.toLowerCase() as S;
    if (s in counts) counts[s]++;
  }
  return counts;
}

/** Splits `host:port` or `[v6]:port` (the config schema has checked the form). */
export function splitHostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) };
}

export class DaemonMetrics {
  readonly registry = new Registry();
  private sources: MetricsSources | undefined;

  private readonly rpcSeconds = new Histogram({
    name: 'coracle_grpc_request_duration_seconds',
    help: 'Time from a gRPC call received to its status sent (for a server stream: its whole life), by service and method.',
    labelNames: ['service', 'method'] as const,
    buckets: RPC_BUCKETS,
    registers: [this.registry],
  });

  private readonly rpcTotal = new Counter({
    name: 'coracle_grpc_requests_total',
    help: 'gRPC calls completed, by service, method and status code (OK or the error code name).',
    labelNames: ['service', 'method', 'code'] as const,
    registers: [this.registry],
  });

  private readonly pullBytes = new Counter({
    name: 'coracle_image_pull_bytes_total',
    help: 'Bytes received from registries by image pulls (manifests and blobs; a retried download counts again).',
    registers: [this.registry],
  });

  private readonly pullSeconds = new Histogram({
    name: 'coracle_image_pull_duration_seconds',
    help: 'Time an image pull took, from the request to the image recorded, for pulls that succeeded.',
    buckets: PULL_BUCKETS,
    registers: [this.registry],
  });

  private readonly pullFailures = new Counter({
    name: 'coracle_image_pull_failures_total',
    help: 'Image pulls that failed, by the error code name.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  private readonly oomKills = new Counter({
    name: 'coracle_container_oom_kills_total',
    help: 'Container exits recorded as OOMKilled (the kernel OOM killer in the container\'s memory cgroup) since the daemon started.',
    registers: [this.registry],
  });

  /** Handed to the CRI server: each method's label values are bound once, at server creation. */
  readonly rpc: RpcObserver = {
    method: (service: string, method: string): RpcObserve => {
      const seconds = this.rpcSeconds.labels(service, method);
      // Each code's child made at its first call: a call looks its counter up by code alone.
      const counts = new Map<string, { inc(): void }>();
      return (code, s) => {
        seconds.observe(s);
        let count = counts.get(code);
        if (!count) counts.set(code, (count = this.rpcTotal.labels(service, method, code)));
        count.inc();
      };
    },
  };

  /** Handed to the services at composition. */
  readonly recorders: Recorders = {
    pulls: {
      received: (bytes) => this.pullBytes.inc(bytes),
      pulled: (seconds, failure) => {
        if (failure === undefined) this.pullSeconds.observe(seconds);
        else this.pullFailures.inc({ code: failure });
      },
    },
    oomKill: () => this.oomKills.inc(),
  };

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // collect runs with the metric as `this`; the sources are reached through this closure.
    const from = (): MetricsSources | undefined => this.sources;
    /** A gauge of counts by one label, read from the sources at scrape time. */
    const countsGauge = (name: string, help: string, label: string, read: (s: MetricsSources) => Record<string, number> | Promise<Record<string, number>>): void => {
      new Gauge({
        name,
        help,
        labelNames: [label],
        registers: [this.registry],
        async collect() {
          const sources = from();
          if (!sources) return;
          for (const [value, n] of Object.entries(await read(sources))) this.set({ [label]: value }, n);
        },
      });
    };
    countsGauge('coracle_containers', 'Containers by state (created, running, exited), as ListContainers would list them, at scrape time.', 'state', async (s) =>
      countStates(CONTAINER_STATES, await s.containers()),
    );
    countsGauge('coracle_pods', 'Pod sandboxes by state (ready, notready), as ListPodSandbox would list them, at scrape time.', 'state', (s) => countStates(POD_STATES, s.pods()));
    countsGauge(
      'coracle_streaming_sessions',
      'Streaming server connections upgraded with a valid token and open now, by kind (exec, attach, portforward).',
      'kind',
      (s) => s.streamingSessions().open,
    );
    // A counter whose value is kept by the streaming server: set at scrape time (reset, then
    // the total), so that the server needs no hook into the metrics.
    new Counter({
      name: 'coracle_streaming_sessions_total',
      help: 'Streaming server connections upgraded with a valid token since the daemon started, by kind.',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      collect() {
        const sources = from();
        if (!sources) return;
        this.reset();
        for (const [kind, n] of Object.entries(sources.streamingSessions().admitted)) this.inc({ kind }, n);
      },
    });
  }

  /** Where the state gauges read from; until set, they are empty. */
  watch(sources: MetricsSources): void {
    this.sources = sources;
  }

  /** The text exposition of every metric, as a scrape gets it. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /**
   * Serves GET /metrics on `address` (host:port) and nothing else: another path is 404,
   * another method 405. Plain HTTP: the address is the operator's to keep private.
   */
  async serve(address: string, log: Logger): Promise<MetricsListener> {
    const server = createServer(
      { maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: TIMEOUT_CHECK_MS, keepAliveTimeout: KEEP_ALIVE_MS },
      (req, res) => this.handle(req, res, log),
    );
    server.maxConnections = MAX_CONNECTIONS;
    const sockets = new Set<Socket>();
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.once('close', () => sockets.delete(socket));
      socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    });
    // A request Node could not parse (headers past the cap, a timeout, bad syntax) is answered
    // as Node's default handler would, and the connection closed.
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      log.debug('metrics: bad request', { error: err.message, code: err.code });
      if (!socket.writable || err.code === 'ECONNRESET') {
        socket.destroy();
        return;
      }
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    });
    const { host, port } = splitHostPort(address);
    await listen(server, host, port).catch((err: unknown) => {
      throw new CoracleError('UNAVAILABLE', `metrics server: listen on ${address}: ${messageOf(err)}`, { cause: err });
    });
    server.on('error', (err: Error) => log.warn('metrics: server error', { error: err.message }));
    const bound = server.address() as AddressInfo;
    const url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}/metrics`;
    log.info('metrics server listening', { url });
    return {
      url,
      close: () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    };
  }

  private handle(req: IncomingMessage, res: ServerResponse, log: Logger): void {
    req.on('error', () => req.socket.destroy());
    res.on('error', () => res.socket?.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      refuse(res, 404, '404 page not found\n');
      return;
    }
    if (req.method !== 'GET') {
      res.setHeader('Allow', 'GET');
      refuse(res, 405, 'method not allowed: only GET /metrics\n');
      return;
    }
    // A GET has no body to read; one sent anyway is left unread, and the connection closes.
    this.text().then(
      ({ contentType, body }) => res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) }).end(body),
      (err: unknown) => {
        log.warn('metrics: scrape failed', { error: messageOf(err) });
        refuse(res, 500, 'collecting the metrics failed\n');
      },
    );
  }
}

/** Answers and closes the connection (a refused request's body, if any, is never read). */
function refuse(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' }).end(body);
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
