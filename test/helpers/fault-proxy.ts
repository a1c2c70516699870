import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { onCleanup } from './cleanup.js';

/**
 * An HTTP proxy in front of a real registry that misbehaves on blob downloads, on cue:
 * 'stall' sends the headers and `afterBytes`, then nothing; 'redirect' answers 307 to the
 * registry itself (another origin), as registries backed by object stores do. Pull's
 * handling of both is tested against the real registry.
 */
export type Fault = { kind: 'stall'; afterBytes: number } | { kind: 'redirect' };

export async function startFaultProxy(target: string, fault: Fault): Promise<{ url: string; redirects: number }> {
  const sockets = new Set<Socket>();
  const state = { url: '', redirects: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const isBlob = /\/blobs\/sha256:/.test(req.url ?? '') && req.method === 'GET';
    if (isBlob && fault.kind === 'redirect') {
      state.redirects++;
      res.writeHead(307, { location: new URL(req.url ?? '/', target).toString() }).end();
      return;
    }
    const upstream = request(new URL(req.url ?? '/', target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (!isBlob || fault.kind !== 'stall') {
        up.pipe(res);
        return;
      }
      const afterBytes = fault.afterBytes;
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
  state.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return state;
}
