import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeAgents, discard, httpAgents, sendRequest, type HttpAgents, type HttpRequestOptions } from '../../src/image/http-transport.js';
import { onCleanup } from '../helpers/cleanup.js';
import { listenOnLoopback } from '../helpers/loopback-server.js';

/** A loopback server answering with `answer`; it counts the connections it was given. */
async function server(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const srv = createServer(answer);
  srv.on('connection', () => connections++);
  const port = await listenOnLoopback(srv, 'http-transport test server');
  return { url: `http://127.0.0.1:${port}`, connections: () => connections };
}

function agents(): HttpAgents {
  const a = httpAgents(4);
  onCleanup('close the agents', () => closeAgents(a));
  return a;
}

const GET: HttpRequestOptions = { method: 'GET', headers: {}, headersTimeoutMs: 5_000, progressTimeoutMs: 5_000 };

/** The body's bytes, or the error its iteration threw. */
async function read(body: AsyncIterable<Buffer>): Promise<Buffer | Error> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of body) chunks.push(c);
    return Buffer.concat(chunks);
  } catch (err) {
    return err as Error;
  }
}

describe('image/http-transport: registry requests over node:http', function () {
  this.timeout(20_000);

  it('a server that never answers fails the request after headersTimeoutMs, as HEADERS_TIMEOUT', async () => {
    const s = await server(() => undefined);
    const err = await sendRequest(agents(), `${s.url}/v2/`, { ...GET, headersTimeoutMs: 200 }).then(
      () => assert.fail('answered'),
      (e: unknown) => e as { code?: string; message: string },
    );
    assert.equal(err.code, 'HEADERS_TIMEOUT', err.message);
    assert.match(err.message, /no response headers within 0\.2 s/);
  });

  it('a body that stops coming fails its iteration after progressTimeoutMs, as BODY_TIMEOUT', async () => {
    const s = await server((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write(Buffer.alloc(10));
    });
    const res = await sendRequest(agents(), `${s.url}/blob`, { ...GET, progressTimeoutMs: 300 });
    const got = await read(res.body);
    assert.ok(got instanceof Error);
    assert.equal((got as { code?: string }).code, 'BODY_TIMEOUT', got.message);
  });

  it('a body cut by the server fails its iteration (never a short read taken as whole)', async () => {
    const s = await server((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write(Buffer.alloc(10), () => res.socket?.destroy());
    });
    const got = await read((await sendRequest(agents(), `${s.url}/blob`, GET)).body);
    assert.ok(got instanceof Error, `read ${String(got)}`);
  });

  it('an abort while the body is read fails its iteration', async () => {
    const s = await server((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write(Buffer.alloc(10));
    });
    const controller = new AbortController();
    const res = await sendRequest(agents(), `${s.url}/blob`, { ...GET, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const got = await read(res.body);
    assert.ok(got instanceof Error);
    assert.ok(controller.signal.aborted);
  });

  for (const { what, bytes, connections } of [
    { what: 'a small body is read to its end: the connection is used again', bytes: 1000, connections: 1 },
    { what: 'a body over 128 KiB is not read: the connection is closed, the next request opens another', bytes: 1 << 20, connections: 2 },
  ]) {
    it(`discard: ${what}`, async () => {
      const s = await server((req, res) => {
        if (req.url === '/big') res.writeHead(404, { 'content-length': String(bytes) }).end(Buffer.alloc(bytes));
        else res.writeHead(200, { 'content-length': '2' }).end('ok');
      });
      const a = agents();
      await discard(await sendRequest(a, `${s.url}/big`, GET));
      const second = await sendRequest(a, `${s.url}/small`, GET);
      assert.equal((await read(second.body)).toString(), 'ok');
      assert.equal(s.connections(), connections);
    });
  }

  it('a repeated header: first() gives its first value; a POST body goes with its length', async () => {
    let seen: { length?: string; body: string } | undefined;
    const s = await server((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen = { length: req.headers['content-length'], body: Buffer.concat(chunks).toString() };
        res.setHeader('www-authenticate', ['Bearer realm="http://a/token"', 'Basic realm="b"']);
        res.writeHead(401).end();
      });
    });
    const res = await sendRequest(agents(), `${s.url}/token`, { ...GET, method: 'POST', body: 'grant_type=x&scope=é' });
    await discard(res);
    assert.equal(res.statusCode, 401);
    assert.equal(res.first('www-authenticate'), 'Bearer realm="http://a/token"');
    assert.equal(res.first('x-missing'), undefined);
    assert.deepEqual(seen, { length: String(Buffer.byteLength('grant_type=x&scope=é')), body: 'grant_type=x&scope=é' });
  });

  it('a URL that is not http or https is refused before anything is sent', async () => {
    await assert.rejects(sendRequest(agents(), 'ftp://127.0.0.1/x', GET), /ftp: is not http or https/);
  });
});
