import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { CriListeners, type TlsFiles, type TlsListener } from '../cri/listen.js';
import { createCriServer, type CriServer } from '../cri/server.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { readRegularFile } from '../util/bounded-read.js';
import { certAllowList } from '../util/cert-allow.js';
import { UndoStack } from '../util/undo-stack.js';
import { CORACLE_VERSION } from '../version.js';
import { composeServices } from './compose.js';
import { acquireFileLock } from './file-lock.js';
import type { DaemonMetrics, MetricsListener } from './metrics-server.js';
import { clearStaleSocket, ensureSocketDir, removeSocket } from './socket-file.js';
import { CallCount } from '../util/call-count.js';

export interface RunningDaemon {
  readonly socket: string;
  /** Stops accepting, lets in-flight calls finish (up to `graceMs`), removes the socket. */
  stop(graceMs?: number): Promise<void>;
  /**
   * SIGHUP: rereads the remote listener's allow-lists from the config file (closing the open
   * connections they no longer let in) and its certificate files (for new connections
   * only); never throws. Nothing else of the config is applied.
   */
  reload(): Promise<void>;
}

export interface DaemonOptions {
  /** Reads the config again (the same file and flags), for SIGHUP. */
  rereadConfig?: () => Promise<Config>;
}

/** A PEM file is a few KiB: more than this is not one. */
const MAX_PEM_BYTES = 1 << 20;

const readPem = (path: string, what: string): Promise<Buffer> => readRegularFile(path, { max: MAX_PEM_BYTES, what: `remote.${what}` });

async function readTlsFiles(remote: Config['remote']): Promise<TlsFiles> {
  const [ca, cert, key] = await Promise.all([readPem(remote.ca, 'ca'), readPem(remote.cert, 'cert'), readPem(remote.key, 'key')]);
  return { ca, cert, key };
}

const REMOTE_RESTART_KEYS = ['listen', 'ca', 'cert', 'key'] as const;

/**
 * SIGHUP's part for the allow-lists: they are read from the config file again and replace
 * the listener's. A config that does not load keeps the old lists; a change to the listener's
 * address or file paths is only reported (it takes a restart).
 */
async function reloadAllowList(remote: TlsListener, current: Config['remote'], reread: () => Promise<Config>, log: Logger): Promise<void> {
  let next: Config['remote'];
  try {
    next = (await reread()).remote;
  } catch (err) {
    log.error('remote: rereading the config failed; the allow-lists stay as they were', { error: messageOf(err) });
    return;
  }
  const moved = REMOTE_RESTART_KEYS.filter((k) => next[k] !== current[k]);
  if (moved.length > 0) log.warn('remote: the config changes settings that take a restart; they are not applied', { keys: moved.map((k) => `remote.${k}`) });
  const allow = certAllowList(next.allowed_subjects, next.allowed_sans);
  const closed = remote.setAllowList(allow);
  log.info('remote: allow-lists reloaded', { subjects: next.allowed_subjects.length, sans: next.allowed_sans.length, closedConnections: closed });
  if (allow.open) log.warn('remote: every client certificate the CA signs is let in, and is root on this node: list the allowed ones in remote.allowed_subjects or remote.allowed_sans', { ca: current.ca });
}

function shutdown(server: CriServer, graceMs: number, log: Logger): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      log.warn('in-flight calls did not finish in time; closing them', { graceMs });
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Starts the daemon: locks the root dir and the socket (one daemon per root and per
 * socket), composes the services, serves CRI on the socket. A failure at any step undoes
 * the steps before it, so a daemon that did not start leaves no lock, socket or server.
 */
export async function startDaemon(config: Config, log: Logger, options: DaemonOptions = {}): Promise<RunningDaemon> {
  const started = process.hrtime.bigint();
  const socket = config.grpc.socket;
  const undo = new UndoStack();
  try {
    await mkdir(config.root, { recursive: true, mode: 0o711 });
    await mkdir(config.state, { recursive: true, mode: 0o711 });
    const rootLock = acquireFileLock(join(config.root, 'coracle.lock'), `root dir ${config.root}`);
    undo.push('release root lock', () => rootLock.release());
    await ensureSocketDir(socket);
    const socketLock = acquireFileLock(`${socket}.lock`, `socket ${socket}`);
    undo.push('release socket lock', () => socketLock.release());
    await clearStaleSocket(socket);

    // Loaded only when asked for (prom-client is a chunk of its own in the bundle): a daemon
    // without metrics neither loads nor pays for them.
    let metrics: DaemonMetrics | undefined;
    if (config.metrics.address) metrics = new (await import('./metrics-server.js')).DaemonMetrics();
    // Counted by the server, waited on by the deletion of removed image layers.
    const calls = new CallCount();
    const services = await composeServices(config, log, metrics?.recorders, calls);
    undo.push('close services', () => services.close());
    const server = createCriServer(services, log, {
      maxReceiveMessageBytes: config.grpc.max_recv_message_size,
      maxSendMessageBytes: config.grpc.max_send_message_size,
      rpcObserver: metrics?.rpc,
      calls,
    });
    undo.push('stop server', () => server.forceShutdown());
    const listeners = new CriListeners(server, log);
    undo.push('close listeners', () => listeners.close());
    await listeners.unix(socket);
    let remote: TlsListener | undefined;
    if (config.remote.listen) {
      // Mutual TLS or nothing: a client without a certificate the CA signed is refused.
      const allow = certAllowList(config.remote.allowed_subjects, config.remote.allowed_sans);
      // The streaming server's connections come over it too: a remote client's exec and
      // attach are authenticated as its calls are, never on the streaming port.
      remote = await listeners.tls(config.remote.listen, await readTlsFiles(config.remote), allow, (s) => services.acceptStreamingConnection(s));
      log.info('serving over TCP with mutual TLS', { listen: config.remote.listen });
      if (allow.open) {
        log.warn('remote: every client certificate the CA signs is let in, and is root on this node: list the allowed ones in remote.allowed_subjects or remote.allowed_sans', { ca: config.remote.ca });
      }
    }
    undo.push('remove socket', () => removeSocket(socket));
    await chmod(socket, 0o660);
    let metricsListener: MetricsListener | undefined;
    if (metrics) {
      metrics.watch({ containers: () => services.containers.list(), pods: () => services.sandboxes.list(), streamingSessions: () => services.streamingSessions() });
      const listener = await metrics.serve(config.metrics.address, log);
      metricsListener = listener;
      undo.push('close metrics server', () => listener.close());
    }

    log.info('coracle serving', {
      version: CORACLE_VERSION,
      socket,
      root: config.root,
      state: config.state,
      startupMs: Number(process.hrtime.bigint() - started) / 1e6,
    });
    let stopping: Promise<void> | undefined;
    let reloading: Promise<void> = Promise.resolve();
    return {
      socket,
      reload() {
        reloading = reloading.then(async () => {
          if (!remote) {
            log.info('SIGHUP: no TCP listener, nothing to reload');
            return;
          }
          if (options.rereadConfig) await reloadAllowList(remote, config.remote, options.rereadConfig, log);
          try {
            const cert = remote.reload(await readTlsFiles(config.remote));
            log.info('remote: certificate files reloaded; new connections use them', { cert: config.remote.cert, serial: cert.serialNumber, validTo: cert.validTo });
          } catch (err) {
            log.error('remote: reloading the certificate files failed; the previous ones stay in use', { error: messageOf(err) });
          }
        });
        return reloading;
      },
      stop(graceMs = 10_000) {
        stopping ??= (async () => {
          log.info('coracle stopping');
          services.endStreams();
          listeners.close();
          await metricsListener?.close();
          await shutdown(server, graceMs, log);
          await services.close();
          await removeSocket(socket);
          socketLock.release();
          rootLock.release();
          log.info('coracle stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    await undo.unwind(log);
    throw err;
  }
}
