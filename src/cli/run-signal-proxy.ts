import { messageOf } from '../errors.js';
import { signalContainer } from './coracle-client.js';
import type { DaemonTarget } from './daemon-target.js';

/** The signals docker's proxy forwards that a terminal or a supervisor sends a foreground client. */
const PROXIED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/**
 * docker run's signal proxy (non-tty runs; with a tty, Ctrl+C reaches the container through
 * its terminal): each signal this process gets goes to the container's main process, every
 * time (a second Ctrl+C is forwarded too, as docker's). Its handler keeps the CLI alive;
 * the run ends when the container does. The returned function removes the handlers.
 */
export function proxySignals(socket: DaemonTarget, id: string): () => void {
  const handlers = PROXIED.map((signal) => {
    const handler = (): void => {
      signalContainer(socket, id, signal).catch((err: unknown) => process.stderr.write(`coracle: ${signal} not forwarded: ${messageOf(err)}\n`));
    };
    process.on(signal, handler);
    return { signal, handler };
  });
  return () => {
    for (const h of handlers) process.off(h.signal, h.handler);
  };
}
