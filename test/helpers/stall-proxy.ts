import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { onCleanup } from './cleanup.js';

/**
 * An HTTP proxy in front of a real registry that stalls blob downloads after `afterBytes`:
 * the headers and the first bytes come, then nothing. How a pull copes with a stuck
 * connection is tested against the real registry, failing on cue.
 */
export async function startStallingProxy(target: string, afterBytes: number): Promise<{ url: string }> {
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const upstream = request(new URL(req.url ?? '/', target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (!/\/blobs\/sha256:/.test(req.url ?? '') || req.method !== 'GET') {
        up.pipe(res);
        return;
      }
      let sent = 0;
      up.on('data', (chunk: Buffer) => {
        if (sent >= afterBytes) return;
        const part = chunk.subarray(0, afterBytes - sent);
        sent += part.length;
        res.write(part);
      });
      // A blob no longer than the cut is passed whole: ending it frees the connection.
      up.on('end', () => {
        if (sent < afterBytes) res.end();
      });
    });
    req.pipe(upstream);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onCleanup('stop stalling proxy', () => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(() => r(undefined)));
  });
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}
