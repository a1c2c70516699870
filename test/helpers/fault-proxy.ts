import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './loopback-server.js';

/**
 * An HTTP proxy in front of a real registry that misbehaves on blob downloads, on cue:
 * 'stall' sends the headers and `afterBytes`, then nothing; 'cut' sends them and `afterBytes`,
 * then breaks the connection, for the first `times` blob downloads that long (`cuts` counts
 * them), and passes the later ones; 'redirect' answers 307 to the
 * registry itself or to `to` (another origin), as registries backed by object stores do;
 * 'none' passes everything; 'challenge' answers every request 401 with `header` as its
 * WWW-Authenticate (a host that asks for credentials); 'bearer' does so unless the request
 * carries `Bearer token`, and passes it then. Pull's handling of each is tested
 * against the real registry. Every request's Authorization header is recorded in `seen`.
 */
export type Fault =
  | { kind: 'stall'; afterBytes: number }
  | { kind: 'cut'; afterBytes: number; times: number }
  | { kind: 'redirect'; to?: string }
  | { kind: 'none' }
  | { kind: 'challenge'; header: string }
  | { kind: 'bearer'; header: string; token: string };

export interface SeenRequest {
  method: string;
  path: string;
  authorization: string | undefined;
}

export interface FaultProxy {
  url: string;
  /** host:port of `url`. */
  host: string;
  redirects: number;
  /** Downloads 'cut' broke. */
  cuts: number;
  seen: SeenRequest[];
}

export async function startFaultProxy(target: string, fault: Fault): Promise<FaultProxy> {
  const state: FaultProxy = { url: '', host: '', redirects: 0, cuts: 0, seen: [] };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.seen.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
    if (fault.kind === 'challenge' || (fault.kind === 'bearer' && req.headers.authorization !== `Bearer ${fault.token}`)) {
      req.resume();
      res.writeHead(401, { 'www-authenticate': fault.header, 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const isBlob = /\/blobs\/sha256:/.test(req.url ?? '') && req.method === 'GET';
    if (isBlob && fault.kind === 'redirect') {
      state.redirects++;
      res.writeHead(307, { location: new URL(req.url ?? '/', fault.to ?? target).toString() }).end();
      return;
    }
    const upstream = request(new URL(req.url ?? '/', target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      const cut = isBlob && fault.kind === 'cut' && state.cuts < fault.times;
      if (!isBlob || !(fault.kind === 'stall' || cut)) {
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
        if (cut && sent >= afterBytes) {
          state.cuts++;
          up.destroy();
          res.socket?.destroy();
        }
      });
      // A blob no longer than the cut is passed whole: ending it frees the connection.
      up.on('end', () => {
        if (sent < afterBytes) res.end();
      });
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  state.host = `127.0.0.1:${await listenOnLoopback(server, 'stalling proxy')}`;
  state.url = `http://${state.host}`;
  return state;
}
