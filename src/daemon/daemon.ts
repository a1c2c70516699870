import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { CriListeners } from '../cri/listen.js';
import { createCriServer, type CriServer } from '../cri/server.js';
import type { Logger } from '../log.js';
import { UndoStack } from '../util/undo-stack.js';
import { CORACLE_VERSION } from '../version.js';
import { composeServices } from './compose.js';
import { acquireFileLock } from './file-lock.js';
import { clearStaleSocket, ensureSocketDir, removeSocket } from './socket-file.js';

export interface RunningDaemon {
  readonly socket: string;
  /** Stops accepting, lets in-flight calls finish (up to `graceMs`), removes the socket. */
  stop(graceMs?: number): Promise<void>;
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
export async function startDaemon(config: Config, log: Logger): Promise<RunningDaemon> {
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

    const services = await composeServices(config, log);
    undo.push('close services', () => services.close());
    const server = createCriServer(services, log, {
      maxReceiveMessageBytes: config.grpc.max_recv_message_size,
      maxSendMessageBytes: config.grpc.max_send_message_size,
    });
    undo.push('stop server', () => server.forceShutdown());
    const listeners = new CriListeners(server, log);
    undo.push('close listeners', () => listeners.close());
    await listeners.unix(socket);
    if (config.remote.listen) {
      // Mutual TLS or nothing: a client without a certificate the CA signed is refused.
      const [ca, cert, key] = await Promise.all([config.remote.ca, config.remote.cert, config.remote.key].map((f) => readFile(f)));
      await listeners.tls(config.remote.listen, { ca: ca!, cert: cert!, key: key! });
      log.info('serving over TCP with mutual TLS', { listen: config.remote.listen });
    }
    undo.push('remove socket', () => removeSocket(socket));
    await chmod(socket, 0o660);

    log.info('coracle serving', {
      version: CORACLE_VERSION,
      socket,
      root: config.root,
      state: config.state,
      startupMs: Number(process.hrtime.bigint() - started) / 1e6,
    });
    let stopping: Promise<void> | undefined;
    return {
      socket,
      stop(graceMs = 10_000) {
        stopping ??= (async () => {
          log.info('coracle stopping');
          services.endStreams();
          listeners.close();
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
