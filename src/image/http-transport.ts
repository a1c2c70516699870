/**
 * The HTTP requests of a pull (manifests, blobs, bearer tokens) over Node's own http and https
 * clients, through one pool of keep-alive connections per scheme.
 *
 * Why not undici, which this used before: loading it and making a request leaves its code in
 * the daemon for good. A standalone node, five 2 MiB blob downloads from a local registry:
 * undici left 5.4 MiB more of the node binary's code resident and 17 MiB more anonymous
 * memory; node:http 0.5 MiB of code and 1.2 MiB anonymous (bench/daemon's pull grew the
 * daemon by 9 MiB, 6.5 of which stayed after 100 pods). Node's client is in the binary's
 * snapshot and parses with its native llhttp, not undici's WebAssembly build of it.
 */
import { Agent as HttpAgent, request as plainRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';

/** The connection pools, one per scheme. */
export interface HttpAgents {
  http: HttpAgent;
  https: HttpsAgent;
}

export interface HttpRequestOptions {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  /** From the request to the response's headers, connecting included. */
  headersTimeoutMs: number;
  /** No bytes either way for this long: the request, or the body being read, fails. */
  progressTimeoutMs: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  /** The first value of a header (a repeated header's others are ignored). */
  first(name: string): string | undefined;
  /** The body, unread; its failures (a timeout's included) come out of its iteration. */
  body: IncomingMessage;
}

/** A request that timed out: `code` says at which step. */
export class HttpTimeoutError extends Error {
  readonly code: 'HEADERS_TIMEOUT' | 'BODY_TIMEOUT';

  constructor(step: 'headers' | 'body', ms: number) {
    super(step === 'headers' ? `no response headers within ${ms / 1000} s` : `no data for ${ms / 1000} s`);
    this.code = step === 'headers' ? 'HEADERS_TIMEOUT' : 'BODY_TIMEOUT';
  }
}

/**
 * Node's https (and TLS with it), loaded at the first https request: a daemon whose registries
 * are all plain http (a local mirror) never loads it (about 1 MiB resident in bare Node).
 */
const https = (): typeof import('node:https') => process.getBuiltinModule('node:https');

/** The pools httpAgents() makes: the https one on first use. */
class LazyAgents implements HttpAgents {
  readonly http: HttpAgent;
  private tls: HttpsAgent | undefined;

  constructor(private readonly maxSockets: number) {
    this.http = new HttpAgent({ keepAlive: true, maxSockets });
  }

  get https(): HttpsAgent {
    return (this.tls ??= new (https().Agent)({ keepAlive: true, maxSockets: this.maxSockets }));
  }

  close(): void {
    this.http.destroy();
    this.tls?.destroy();
  }
}

/** Keep-alive pools of at most `maxSockets` connections per origin. */
export function httpAgents(maxSockets: number): HttpAgents {
  return new LazyAgents(maxSockets);
}

export function closeAgents(agents: HttpAgents): void {
  if (agents instanceof LazyAgents) return agents.close();
  agents.http.destroy();
  agents.https.destroy();
}

/** One request; resolves with the response once its headers are in, its body unread. */
export function sendRequest(agents: HttpAgents, url: string, o: HttpRequestOptions): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      reject(new Error(`${target.protocol} is not http or https`));
      return;
    }
    const headers = o.body === undefined ? o.headers : { ...o.headers, 'content-length': String(Buffer.byteLength(o.body)) };
    const options = { method: o.method, headers, timeout: o.progressTimeoutMs, ...(o.signal ? { signal: o.signal } : {}) };
    const req = target.protocol === 'https:' ? https().request(target, { ...options, agent: agents.https }) : plainRequest(target, { ...options, agent: agents.http });
    let response: IncomingMessage | undefined;
    const headersTimer = setTimeout(() => req.destroy(new HttpTimeoutError('headers', o.headersTimeoutMs)), o.headersTimeoutMs);
    req.on('error', (err) => {
      clearTimeout(headersTimer);
      reject(err);
    });
    // The socket was idle for progressTimeoutMs: before the headers, the request fails; while
    // the body is read, the body's iteration does.
    req.on('timeout', () => {
      if (!response) req.destroy(new HttpTimeoutError('body', o.progressTimeoutMs));
      else if (!response.complete) response.destroy(new HttpTimeoutError('body', o.progressTimeoutMs));
    });
    req.on('response', (res) => {
      clearTimeout(headersTimer);
      response = res;
      // Its reader sees the failure through its iteration; this keeps one that comes while
      // nobody reads (a body left to discard) from being an unhandled 'error' event.
      res.on('error', () => undefined);
      resolve({
        statusCode: res.statusCode ?? 0,
        headers: res.headers,
        first: (name) => res.headersDistinct[name]?.[0],
        body: res,
      });
    });
    req.end(o.body);
  });
}

/** What of a body that is not wanted is read to keep its connection; a longer one closes it. */
const MAX_DISCARD_BYTES = 128 << 10;

/** Reads and drops a response's body (a redirect's, an error's), so that its connection is reused. */
export function discard(res: HttpResponse): Promise<void> {
  const body = res.body;
  return new Promise((resolve) => {
    // Not `complete`: that says the body is all in, not that it was read.
    if (body.destroyed) {
      resolve();
      return;
    }
    let bytes = 0;
    body.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_DISCARD_BYTES) body.destroy();
    });
    // Not at 'end': the connection goes back to its pool a tick later, by 'close'.
    body.once('close', resolve);
  });
}
