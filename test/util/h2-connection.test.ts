import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as h2connect, constants, type ClientHttp2Session } from 'node:http2';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { H2Connection, type H2ConnectionOptions } from '../../src/util/h2-connection.js';
import { ACK, DATA, END_HEADERS, END_STREAM, frame, HEADERS, PING, PREFACE, SETTINGS } from '../../src/util/h2-frames.js';
import type { H2Stream } from '../../src/util/h2-stream.js';
import { encodeHeaderBlock } from '../../src/util/hpack-block.js';
import { onCleanup } from '../helpers/cleanup.js';
import { h2Answer } from '../helpers/h2-answer.js';
import { until } from '../helpers/until.js';

/*
 * The server side of HTTP/2 against Node's own client (nghttp2): an independent peer, so
 * that framing, HPACK and flow control are checked against another implementation's.
 */

interface Served {
  socket: string;
  connections: H2Connection[];
}

async function serve(onStream: (s: H2Stream) => void, o: Partial<H2ConnectionOptions> = {}): Promise<Served> {
  const dir = await mkdtemp(join(tmpdir(), 'coracle-h2-'));
  onCleanup('remove the socket dir', () => rm(dir, { recursive: true, force: true }));
  const connections: H2Connection[] = [];
  const server: Server = createServer((sock) => connections.push(new H2Connection(sock, { onStream, ...o })));
  const socket = join(dir, 's.sock');
  await new Promise<void>((r) => server.listen(socket, r));
  onCleanup('close the server', () => {
    for (const c of connections) c.destroy();
    return new Promise((r) => server.close(() => r(undefined)));
  });
  return { socket, connections };
}

function client(socket: string, settings: Record<string, number> = {}): ClientHttp2Session {
  const session = h2connect('http://localhost', { createConnection: () => connect(socket), settings });
  session.on('error', () => undefined);
  onCleanup('close the client', () => session.destroy());
  return session;
}

const POST = { ':method': 'POST', ':path': '/x', 'content-type': 'application/grpc' };

/** Reads a request's body to its end, giving the window back as it goes. */
function readAll(s: H2Stream): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.onData = (c) => {
    parts.push(c);
    s.consumed(c.length);
  };
  return new Promise((resolve) => (s.onEnd = () => resolve(Buffer.concat(parts))));
}

/** A socket that keeps what the connection writes, one buffer per write; its reads are what the test pushes. */
function fakeSocket(): { socket: Duplex; writes: Buffer[] } {
  const writes: Buffer[] = [];
  const socket = new Duplex({
    read: () => undefined,
    write: (chunk: Buffer, _enc, cb) => (writes.push(chunk), cb()),
  });
  onCleanup('destroy the fake socket', () => socket.destroy());
  return { socket, writes };
}

/** A request's header block (POST /x). */
const POST_X = encodeHeaderBlock([{ name: ':method', value: 'POST' }, { name: ':scheme', value: 'http' }, { name: ':path', value: '/x' }]);

/** A request with no body on stream `id`: its HEADERS frame, which ends it. */
const request = (id: number): Buffer => frame(HEADERS, END_HEADERS | END_STREAM, id, POST_X);

/**
 * Pushes `chunk` as one read of `socket`, from a macrotask as a socket's reads come, and
 * resolves with how many writes there were by the next turn of the loop (a setImmediate
 * queued before the read: it runs before anything the read queues with setImmediate).
 */
const writesAfterRead = (socket: Duplex, writes: Buffer[], chunk: Buffer): Promise<number> =>
  new Promise((resolve) =>
    setImmediate(() => {
      setImmediate(() => resolve(writes.length));
      socket.push(chunk);
    }),
  );

/** The frames of one write: type, flags and stream of each. */
function frameTypes(w: Buffer): [number, number, number][] {
  const types: [number, number, number][] = [];
  for (let at = 0; at < w.length; at += 9 + w.readUIntBE(at, 3)) types.push([w[at + 3]!, w[at + 4]!, w.readUInt32BE(at + 5)]);
  return types;
}

describe('util/h2-connection: a server-side HTTP/2 connection', function () {
  this.timeout(30_000);

  it('answers a request with headers, DATA and trailers, the request headers decoded', async () => {
    const seen: Record<string, string | undefined> = {};
    const { socket } = await serve((s) => {
      seen.path = s.header(':path');
      seen.custom = s.header('x-custom');
      void readAll(s).then((body) => {
        s.respond([{ name: ':status', value: '200' }]);
        s.write(Buffer.concat([Buffer.from('echo:'), body]));
        s.end([{ name: 'grpc-status', value: '0' }]);
      });
    });
    const session = client(socket);
    for (let i = 0; i < 3; i++) {
      // Three on one connection: the client's dynamic table carries over from block to block.
      const req = session.request({ ...POST, 'x-custom': `v${i}` }, { waitForTrailers: false });
      req.end(Buffer.from(`body${i}`));
      const a = await h2Answer(req);
      assert.equal(a.headers[':status'], 200);
      assert.equal(a.body.toString(), `echo:body${i}`);
      assert.equal(a.trailers?.['grpc-status'], '0');
      assert.deepEqual(seen, { path: '/x', custom: `v${i}` });
    }
  });

  it('sends a response far larger than the client\'s windows, whole and in order', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const { socket } = await serve((s) => {
      s.onEnd = () => {
        s.respond([{ name: ':status', value: '200' }]);
        // In pieces of odd sizes, as a gRPC stream writes prefixes and messages.
        for (let at = 0; at < big.length; at += 100_003) s.write(big.subarray(at, at + 100_003));
        s.end([{ name: 'grpc-status', value: '0' }]);
      };
    });
    // Node's client: 64 KiB windows, and a connection window it does not raise.
    const session = client(socket, { initialWindowSize: 65535 });
    const req = session.request(POST);
    req.end();
    const a = await h2Answer(req);
    assert.equal(a.body.length, big.length);
    assert.ok(a.body.equals(big), 'same bytes');
    assert.equal(a.trailers?.['grpc-status'], '0');
  });

  it('takes a request far larger than its own stream window, given back as it is read', async () => {
    const { socket } = await serve(
      (s) =>
        void readAll(s).then((body) => {
          s.respond([{ name: ':status', value: '200' }]);
          s.end([{ name: 'size', value: String(body.length) }]);
        }),
      { streamWindow: 128 * 1024, connectionWindow: 256 * 1024 },
    );
    const req = client(socket).request(POST);
    req.end(Buffer.alloc(5 * 1024 * 1024, 7));
    const a = await h2Answer(req);
    assert.equal(a.trailers?.size, String(5 * 1024 * 1024));
  });

  it('holds a client back while its bytes are not taken: no more than the stream window arrives', async () => {
    let received = 0;
    let stream: H2Stream | undefined;
    const { socket } = await serve(
      (s) => {
        stream = s;
        s.onData = (c) => (received += c.length);
      },
      { streamWindow: 64 * 1024 },
    );
    const req = client(socket).request(POST);
    req.write(Buffer.alloc(1024 * 1024));
    await until('the first window', () => received === 64 * 1024);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(received, 64 * 1024, 'nothing past the window');
    // Taken: the rest flows.
    stream!.onData = (c) => {
      received += c.length;
      stream!.consumed(c.length);
    };
    stream!.consumed(64 * 1024);
    await until('the whole body', () => received === 1024 * 1024);
    req.close();
  });

  it('answers a PING, and a client reset aborts the stream', async () => {
    let aborted = false;
    const { socket } = await serve((s) => {
      s.onAbort = () => (aborted = true);
    });
    const session = client(socket);
    await new Promise((r) => session.once('connect', r));
    await new Promise<void>((resolve, reject) => session.ping(Buffer.from('12345678'), (err, _ms, payload) => (err ? reject(err) : (assert.equal(payload.toString(), '12345678'), resolve()))));
    const req = session.request(POST);
    req.write('x');
    await new Promise((r) => setTimeout(r, 100));
    req.close(constants.NGHTTP2_CANCEL);
    await until('the stream aborted', () => aborted);
  });

  it("a PING's ACK and the answer to the request read with it leave in one write", async () => {
    const { socket, writes } = fakeSocket();
    // Answered in a promise job after the read, as the gRPC handlers answer.
    new H2Connection(socket, {
      onStream: (s) => {
        s.onEnd = () => void Promise.resolve().then(() => (s.respond([{ name: ':status', value: '200' }]), s.write(Buffer.from('ok')), s.end([{ name: 'grpc-status', value: '0' }])));
      },
    });
    await until('the server says its settings', () => writes.length === 1);
    // From a macrotask, as a socket's reads come: not inside this test's promise jobs.
    setImmediate(() => socket.push(Buffer.concat([PREFACE, frame(PING, 0, 0, Buffer.from('12345678')), frame(HEADERS, END_HEADERS | END_STREAM, 1, POST_X)])));
    await until('the server answers', () => writes.length > 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(writes.length, 2, 'one write after the settings');
    assert.deepEqual(frameTypes(writes[1]!), [[PING, ACK, 0], [HEADERS, END_HEADERS, 1], [DATA, 0, 1], [HEADERS, END_HEADERS | END_STREAM, 1]]);
  });

  it("a read with no request in it (a PING) is answered at the read's end, not a turn of the loop later", async () => {
    const { socket, writes } = fakeSocket();
    new H2Connection(socket, { onStream: () => assert.fail('no stream') });
    await until('the server says its settings', () => writes.length === 1);
    assert.equal(await writesAfterRead(socket, writes, Buffer.concat([PREFACE, frame(PING, 0, 0, Buffer.from('12345678'))])), 2, 'the ACK was written by then');
    assert.deepEqual(frameTypes(writes[1]!), [[PING, ACK, 0]]);
  });

  it("a request answered within its read leaves at the read's end, with the PING's ACK read before it; one answered later waits for the turn's end", async () => {
    const { socket, writes } = fakeSocket();
    const answer = (s: H2Stream): void => void s.respondWhole([{ name: ':status', value: '200' }], [Buffer.from('ok')], [{ name: 'grpc-status', value: '0' }]);
    // Stream 1 is answered as its request ends (a handler with nothing to wait for); stream 3 in a promise job.
    new H2Connection(socket, { onStream: (s) => (s.onEnd = () => (s.id === 1 ? answer(s) : void Promise.resolve().then(() => answer(s)))) });
    await until('the server says its settings', () => writes.length === 1);
    // As a gRPC client sends a request: HEADERS, then its message in DATA that ends the stream.
    const withBody = (id: number): Buffer =>
      Buffer.concat([frame(HEADERS, END_HEADERS, id, POST_X), frame(DATA, END_STREAM, id, Buffer.from('hi'))]);
    const ping = (data: string): Buffer => frame(PING, 0, 0, Buffer.from(data));
    assert.equal(await writesAfterRead(socket, writes, Buffer.concat([PREFACE, ping('12345678'), withBody(1)])), 2, 'written within the read');
    assert.deepEqual(frameTypes(writes[1]!), [[PING, ACK, 0], [HEADERS, END_HEADERS, 1], [DATA, 0, 1], [HEADERS, END_HEADERS | END_STREAM, 1]]);
    assert.equal(await writesAfterRead(socket, writes, Buffer.concat([ping('abcdefgh'), withBody(3)])), 2, 'nothing written by the next turn');
    await until('the second answer', () => writes.length === 3);
    assert.deepEqual(frameTypes(writes[2]!), [[PING, ACK, 0], [HEADERS, END_HEADERS, 3], [DATA, 0, 3], [HEADERS, END_HEADERS | END_STREAM, 3]], 'the ACK waited for the answer');
  });

  it('a whole response leaves as one write where the windows let it, and piece by piece where they do not', async () => {
    const { socket, writes } = fakeSocket();
    const whole: boolean[] = [];
    new H2Connection(socket, {
      onStream: (s) => {
        s.onEnd = () => void Promise.resolve().then(() => whole.push(s.respondWhole([{ name: ':status', value: '200' }], [Buffer.from('o'), Buffer.from('k'.repeat(99))], [{ name: 'grpc-status', value: '0' }])));
      },
    });
    await until('the server says its settings', () => writes.length === 1);
    setImmediate(() => socket.push(Buffer.concat([PREFACE, request(1)])));
    await until('the first answer', () => writes.length === 2);
    assert.deepEqual(frameTypes(writes[1]!), [[HEADERS, END_HEADERS, 1], [DATA, 0, 1], [HEADERS, END_HEADERS | END_STREAM, 1]]);
    assert.equal(writes[1]!.subarray(9 + writes[1]!.readUIntBE(0, 3) + 9).subarray(0, 100).toString(), 'o' + 'k'.repeat(99));
    // The client's stream window down to 50 bytes (SETTINGS_INITIAL_WINDOW_SIZE): 100 bytes do not fit.
    const settings = Buffer.from([0, 4, 0, 0, 0, 50]);
    setImmediate(() => socket.push(Buffer.concat([frame(SETTINGS, 0, 0, settings), request(3)])));
    await until('the second answer', () => whole.length === 2);
    assert.deepEqual(whole, [true, false]);
    await new Promise((r) => setImmediate(r));
    // The SETTINGS' ACK, and nothing of stream 3: its caller sends it piece by piece.
    assert.deepEqual(writes.slice(2).flatMap(frameTypes), [[SETTINGS, ACK, 0]]);
  });

  it("a whole response over the peer's frame size, or past the connection's window, is not sent whole", async () => {
    const { socket, writes } = fakeSocket();
    const whole: boolean[] = [];
    const sizes = [20_000, 40_000, 40_000];
    new H2Connection(socket, {
      onStream: (s) => {
        const size = sizes[(s.id - 1) / 2]!;
        s.onEnd = () => void Promise.resolve().then(() => whole.push(s.respondWhole([{ name: ':status', value: '200' }], [Buffer.alloc(size)], [{ name: 'grpc-status', value: '0' }])));
      },
    });
    await until('the server says its settings', () => writes.length === 1);
    // 20,000 bytes: over the default frame size (16,384).
    setImmediate(() => socket.push(Buffer.concat([PREFACE, request(1)])));
    await until('the first', () => whole.length === 1);
    // SETTINGS_MAX_FRAME_SIZE 1 MiB: 40,000 bytes fit a frame and the 65,535-byte connection window once, not twice.
    setImmediate(() => socket.push(Buffer.concat([frame(SETTINGS, 0, 0, Buffer.from([0, 5, 0, 0x10, 0, 0])), request(3)])));
    await until('the second', () => whole.length === 2);
    setImmediate(() => socket.push(request(5)));
    await until('the third', () => whole.length === 3);
    assert.deepEqual(whole, [false, true, false]);
  });

  it('a frame queued once the connection has ended (a PING after GOAWAY) is dropped, not written after the end', async () => {
    let finished = false;
    const socket = new Duplex({ read: () => undefined, write: (_c, _e, cb) => cb(), final: (cb) => ((finished = true), cb()) });
    const errors: Error[] = [];
    socket.on('error', (err) => errors.push(err));
    onCleanup('destroy the fake socket', () => socket.destroy());
    const conn = new H2Connection(socket, { onStream: () => undefined });
    setImmediate(() => socket.push(PREFACE));
    await new Promise((r) => setTimeout(r, 10));
    conn.goAway();
    await until('the socket ended', () => finished);
    setImmediate(() => socket.push(frame(PING, 0, 0, Buffer.from('12345678'))));
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(errors, []);
    assert.equal(socket.destroyed, false, 'what the socket still held was not thrown away');
  });

  it('a header block over several frames (HEADERS and CONTINUATION) is read whole', async () => {
    let got: string | undefined;
    const { socket } = await serve((s) => {
      got = s.header('x-big');
      s.respond([{ name: ':status', value: '200' }], true);
    });
    const big = 'v'.repeat(40 * 1024);
    const req = client(socket).request({ ...POST, 'x-big': big });
    req.end();
    const a = await h2Answer(req);
    assert.equal(a.headers[':status'], 200);
    assert.equal(got, big);
  });

  it('after GOAWAY the stream under way completes, a new one is refused, then the connection closes', async () => {
    const streams: H2Stream[] = [];
    const { socket, connections } = await serve((s) => streams.push(s));
    const session = client(socket);
    const first = session.request(POST);
    first.end();
    await until('the first stream', () => streams.length === 1);
    const closed = new Promise<void>((r) => session.on('close', () => r()));
    connections[0]!.goAway();
    await new Promise((r) => setTimeout(r, 100));
    streams[0]!.respond([{ name: ':status', value: '200' }], true);
    assert.equal((await h2Answer(first)).headers[':status'], 200);
    await closed;
    assert.equal(connections[0]!.active, 0);
  });

  it('a client that is not HTTP/2 is closed', async () => {
    const { socket } = await serve(() => assert.fail('no stream'));
    const sock = connect(socket);
    sock.on('error', () => undefined);
    sock.resume();
    sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((r) => sock.on('close', () => r()));
  });
});
