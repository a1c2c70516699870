import type { ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';

/** What Node's HTTP/2 client got for one request: headers, body, trailers, and the reset code (0: none). */
export interface H2Answer {
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers: IncomingHttpHeaders | undefined;
  rstCode: number;
}

/** Reads `req`'s answer to the stream's close (10 s at most). */
export function h2Answer(req: ClientHttp2Stream): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    const body: Buffer[] = [];
    req.on('response', (h: IncomingHttpHeaders) => {
      headers = h;
    });
    req.on('trailers', (t: IncomingHttpHeaders) => {
      trailers = t;
    });
    req.on('data', (c: Buffer) => body.push(c));
    req.on('error', () => undefined);
    req.on('close', () => resolve({ headers, body: Buffer.concat(body), trailers, rstCode: req.rstCode ?? 0 }));
    setTimeout(() => reject(new Error('no answer in 10 s')), 10_000).unref();
  });
}
