import type { AddressInfo, Server, Socket } from 'node:net';
import { onCleanup } from './cleanup.js';

/**
 * Serves `server` on a free loopback port until the test ends; then its open connections are
 * cut and it closes (close alone would wait for every keep-alive connection). Resolves with
 * the port.
 */
export async function listenOnLoopback(server: Server, what: string): Promise<number> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(`stop ${what}`, () => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as AddressInfo).port;
}
