import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as h2connect, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { Status } from '../../src/cri/grpc-status.js';
import type { MethodCodec, RpcCall } from '../../src/cri/rpc-call.js';
import { RpcServer } from '../../src/cri/rpc-server.js';
import { wrapUnary, type UnaryHandler } from '../../src/cri/wrap.js';
import { CoracleError } from '../../src/errors.js';
import { CallCount } from '../../src/util/call-count.js';
import { DATA, END_HEADERS, END_STREAM, frame, HEADERS, PREFACE } from '../../src/util/h2-frames.js';
import { encodeHeaderBlock } from '../../src/util/hpack-block.js';
import { onCleanup } from '../helpers/cleanup.js';
import { h2Answer } from '../helpers/h2-answer.js';
import { until } from '../helpers/until.js';
import winston from 'winston';

/*
 * The gRPC layer over HTTP/2, against Node's HTTP/2 client sending what gRPC libraries would
 * not: bad methods, content types, encodings and framings. Messages are JSON here (the codec
 * is the method's; the CRI's are protobuf, tested through the daemon).
 */

const json = (path: string, stream = false): MethodCodec => ({
  path,
  requestStream: stream,
  responseStream: false,
  requestDeserialize: (b) => JSON.parse(b.toString()) as unknown,
  responseSerialize: (v) => Buffer.from(JSON.stringify(v)),
});

/** One gRPC message: its 5-byte prefix and its bytes. */
const framed = (v: unknown, compressed = 0): Buffer => {
  const body = Buffer.from(JSON.stringify(v));
  const head = Buffer.alloc(5);
  head[0] = compressed;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
};

async function serve(register: (s: RpcServer) => void, settings: Record<string, number> = {}, calls?: CallCount): Promise<ClientHttp2Session> {
  const dir = await mkdtemp(join(tmpdir(), 'coracle-rpc-'));
  onCleanup('remove the socket dir', () => rm(dir, { recursive: true, force: true }));
  const rpc = new RpcServer({ maxReceiveMessageBytes: 1024, maxSendMessageBytes: 1024 }, undefined, calls);
  register(rpc);
  const server = createServer((sock) => rpc.accept(sock));
  const socket = join(dir, 's.sock');
  await new Promise<void>((r) => server.listen(socket, r));
  onCleanup('close the server', () => {
    rpc.forceShutdown();
    return new Promise((r) => server.close(() => r(undefined)));
  });
  const session = h2connect('http://localhost', { createConnection: () => connect(socket), settings });
  session.on('error', () => undefined);
  onCleanup('close the client', () => session.destroy());
  return session;
}

interface Answer {
  status: number;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  messages: unknown[];
}

/** The answer as gRPC sees it: the statuses from the headers (trailers-only) or the trailers, and the messages. */
async function answer(req: ClientHttp2Stream): Promise<Answer> {
  const { headers, body, trailers = {} } = await h2Answer(req);
  const messages: unknown[] = [];
  for (let at = 0; at < body.length; ) {
    const n = body.readUInt32BE(at + 1);
    messages.push(JSON.parse(body.subarray(at + 5, at + 5 + n).toString()));
    at += 5 + n;
  }
  const field = (name: string): string | undefined => (headers[name] ?? trailers[name]) as string | undefined;
  return { status: Number(headers[':status']), grpcStatus: field('grpc-status'), grpcMessage: field('grpc-message'), messages };
}

const GRPC = (path: string, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders => ({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extra });

/** Echoes the one request message, as a unary handler would. */
const echo = (call: RpcCall): void => {
  let got: unknown;
  call.onMessage = (m, n) => {
    call.consumed(n);
    got = m;
  };
  call.onHalfClose = () => call.end(null, { echo: got });
};

describe('cri/rpc-server: gRPC over the HTTP/2 connection', function () {
  this.timeout(30_000);

  const refusals: { name: string; headers: OutgoingHttpHeaders; body?: Buffer; status: number; grpc?: number; message?: RegExp }[] = [
    { name: 'an unknown method: UNIMPLEMENTED', headers: GRPC('/nope/Nope'), status: 200, grpc: Status.UNIMPLEMENTED, message: /method \/nope\/Nope is not served/ },
    { name: 'a compressed encoding: UNIMPLEMENTED', headers: GRPC('/t/Echo', { 'grpc-encoding': 'gzip' }), status: 200, grpc: Status.UNIMPLEMENTED, message: /grpc-encoding gzip/ },
    { name: 'a compressed message: UNIMPLEMENTED', headers: GRPC('/t/Echo'), body: framed({ a: 1 }, 1), status: 200, grpc: Status.UNIMPLEMENTED, message: /compressed/ },
    { name: 'a message over the limit: RESOURCE_EXHAUSTED', headers: GRPC('/t/Echo'), body: framed('x'.repeat(2000)), status: 200, grpc: Status.RESOURCE_EXHAUSTED, message: /over the 1024 allowed/ },
    { name: 'a length with its top bit set: RESOURCE_EXHAUSTED, not a negative length', headers: GRPC('/t/Echo'), body: Buffer.from([0, 0x80, 0, 0, 1]), status: 200, grpc: Status.RESOURCE_EXHAUSTED, message: /2147483649 bytes, over the 1024 allowed/ },
    { name: 'a message that does not decode: INTERNAL', headers: GRPC('/t/Echo'), body: Buffer.concat([Buffer.from([0, 0, 0, 0, 3]), Buffer.from('{{{')]), status: 200, grpc: Status.INTERNAL, message: /does not decode/ },
    { name: 'a request ending inside a message: INTERNAL', headers: GRPC('/t/Echo'), body: framed({ a: 1 }).subarray(0, 8), status: 200, grpc: Status.INTERNAL, message: /inside a message/ },
    { name: 'GET: HTTP 405', headers: { ':method': 'GET', ':path': '/t/Echo' }, status: 405 },
    { name: 'not application/grpc: HTTP 415', headers: { ':method': 'POST', ':path': '/t/Echo', 'content-type': 'text/plain' }, status: 415 },
  ];
  for (const r of refusals) {
    it(r.name, async () => {
      const session = await serve((s) => s.register(json('/t/Echo'), echo));
      const req = session.request(r.headers);
      req.end(r.body);
      const a = await answer(req);
      assert.equal(a.status, r.status);
      if (r.grpc !== undefined) assert.equal(a.grpcStatus, String(r.grpc));
      if (r.message) assert.match(decodeURIComponent(a.grpcMessage ?? ''), r.message);
      // The connection serves on.
      const ok = session.request(GRPC('/t/Echo'));
      ok.end(framed({ n: 1 }));
      assert.deepEqual((await answer(ok)).messages, [{ echo: { n: 1 } }]);
    });
  }

  it('messages split across DATA frames and several in one are read as sent (client streaming)', async () => {
    const session = await serve((s) =>
      s.register(json('/t/Sum', true), (call) => {
        let sum = 0;
        call.onMessage = (m, n) => {
          call.consumed(n);
          sum += (m as { n: number }).n;
        };
        call.onHalfClose = () => call.end(null, { sum });
      }),
    );
    const req = session.request(GRPC('/t/Sum'));
    const bytes = Buffer.concat([1, 2, 3, 4, 5].map((n) => framed({ n })));
    // Byte by byte for the first message, then the rest in one write.
    for (let i = 0; i < 12; i++) req.write(bytes.subarray(i, i + 1));
    req.end(bytes.subarray(12));
    const a = await answer(req);
    assert.equal(a.grpcStatus, '0');
    assert.deepEqual(a.messages, [{ sum: 15 }]);
  });

  it('a grpc-timeout that passes: DEADLINE_EXCEEDED, and the handler is told', async () => {
    let cancelled = false;
    const session = await serve((s) =>
      s.register(json('/t/Slow'), (call) => {
        call.onCancel(() => (cancelled = true));
      }),
    );
    const req = session.request(GRPC('/t/Slow', { 'grpc-timeout': '50m' }));
    req.end(framed({}));
    const a = await answer(req);
    assert.equal(a.grpcStatus, String(Status.DEADLINE_EXCEEDED));
    await until('the handler told', () => cancelled);
  });

  it("a grpc-timeout past Node's timer limit (30 days) is not taken as 1 ms", async () => {
    const session = await serve((s) =>
      s.register(json('/t/Later'), (call) => {
        call.onMessage = (_m, n) => call.consumed(n);
        call.onHalfClose = () => setTimeout(() => call.end(null, { ok: true }), 50);
      }),
    );
    const req = session.request(GRPC('/t/Later', { 'grpc-timeout': '2592000S' }));
    req.end(framed({}));
    const a = await answer(req);
    assert.equal(a.grpcStatus, '0');
    assert.deepEqual(a.messages, [{ ok: true }]);
  });

  it('a call that ends with no message and no headers sent ends in trailers only', async () => {
    const session = await serve((s) => s.register(json('/t/Nothing'), (call) => (call.onHalfClose = () => call.end(null))));
    const req = session.request(GRPC('/t/Nothing'));
    req.end(framed({}));
    const a = await answer(req);
    assert.equal(a.status, 200);
    assert.equal(a.grpcStatus, '0');
    assert.deepEqual(a.messages, []);
  });

  it("a unary answer larger than the client's stream window is sent as the window lets it, whole", async () => {
    const long = 'z'.repeat(900);
    // 100 bytes a stream: the answer cannot leave at once (RpcCall's respondWhole path), so it goes piece by piece.
    const session = await serve((s) => s.register(json('/t/Echo'), echo), { initialWindowSize: 100 });
    for (const n of [1, 2]) {
      const req = session.request(GRPC('/t/Echo'));
      req.end(framed(long + n));
      const a = await answer(req);
      assert.equal(a.grpcStatus, '0');
      assert.deepEqual(a.messages, [{ echo: long + n }]);
    }
  });

  it("a unary answer given at once (wrapUnary) leaves in one write, headers, DATA and trailers, at the end of the read that brought its request", async () => {
    const rpc = new RpcServer({ maxReceiveMessageBytes: 1024, maxSendMessageBytes: 1024 });
    rpc.register(json('/t/Echo'), wrapUnary('Echo', winston.createLogger({ silent: true }), (r) => ({ echo: r })));
    const writes: Buffer[] = [];
    const socket = new Duplex({ read: () => undefined, write: (chunk: Buffer, _enc, cb) => (writes.push(chunk), cb()) });
    onCleanup('destroy the fake socket', () => socket.destroy());
    rpc.accept(socket);
    await until('the server says its settings', () => writes.length === 1);
    const headers = encodeHeaderBlock([
      { name: ':method', value: 'POST' },
      { name: ':scheme', value: 'http' },
      { name: ':path', value: '/t/Echo' },
      { name: 'content-type', value: 'application/grpc' },
    ]);
    const writesNextTurn = await new Promise<number>((resolve) =>
      setImmediate(() => {
        // Queued before the read: it runs before anything the read queues with setImmediate.
        setImmediate(() => resolve(writes.length));
        socket.push(Buffer.concat([PREFACE, frame(HEADERS, END_HEADERS, 1, headers), frame(DATA, END_STREAM, 1, framed({ n: 7 }))]));
      }),
    );
    assert.equal(writesNextTurn, 2, 'written within the read');
    const types: number[] = [];
    for (let at = 0, w = writes[1]!; at < w.length; at += 9 + w.readUIntBE(at, 3)) types.push(w[at + 3]!);
    assert.deepEqual(types, [HEADERS, DATA, HEADERS]);
    assert.ok(writes[1]!.includes(Buffer.from(JSON.stringify({ echo: { n: 7 } }))));
  });

  it('a client-streaming handler is told when a later request message does not decode, not left waiting', async () => {
    let told = false;
    let got = 0;
    const session = await serve((s) =>
      s.register(json('/t/Upload', true), (call) => {
        call.onMessage = (_m, n) => {
          call.consumed(n);
          got++;
        };
        call.onCancel(() => (told = true));
      }),
    );
    const req = session.request(GRPC('/t/Upload'));
    req.write(framed({ n: 1 }));
    req.write(Buffer.concat([Buffer.from([0, 0, 0, 0, 3]), Buffer.from('{{{')]));
    const a = await answer(req);
    assert.equal(a.grpcStatus, String(Status.INTERNAL));
    assert.equal(got, 1);
    await until('the handler told', () => told);
    req.close();
  });

  // wrap.ts's unary handlers: an answer given at once or later, a throw at once or a rejection,
  // and an answer that does not encode (a BigInt has no JSON): each call gets its own status,
  // and the connection serves on.
  const handlers: { name: string; handler: UnaryHandler<unknown, unknown>; grpc: keyof typeof Status; messages: unknown[] }[] = [
    { name: 'an answer given at once', handler: (r) => ({ at: 'once', r }), grpc: 'OK', messages: [{ at: 'once', r: { n: 1 } }] },
    { name: 'an answer given later', handler: async (r) => ({ at: 'later', r }), grpc: 'OK', messages: [{ at: 'later', r: { n: 1 } }] },
    { name: 'a throw at once', handler: () => { throw new CoracleError('NOT_FOUND', 'nothing at once'); }, grpc: 'NOT_FOUND', messages: [] },
    { name: 'a rejection', handler: async () => { throw new CoracleError('NOT_FOUND', 'nothing later'); }, grpc: 'NOT_FOUND', messages: [] },
    { name: 'an answer at once that does not encode', handler: () => ({ big: 1n }), grpc: 'INTERNAL', messages: [] },
    { name: 'an answer later that does not encode', handler: async () => ({ big: 1n }), grpc: 'INTERNAL', messages: [] },
  ];
  for (const h of handlers) {
    it(`wrapUnary, ${h.name}: ${h.grpc}, and the connection serves on`, async () => {
      const log = winston.createLogger({ silent: true });
      const session = await serve((s) => {
        s.register(json('/t/H'), wrapUnary('H', log, h.handler));
        s.register(json('/t/Echo'), echo);
      });
      const req = session.request(GRPC('/t/H'));
      req.end(framed({ n: 1 }));
      const a = await answer(req);
      assert.equal(a.grpcStatus, String(Status[h.grpc]));
      assert.deepEqual(a.messages, h.messages);
      const ok = session.request(GRPC('/t/Echo'));
      ok.end(framed({ n: 2 }));
      assert.deepEqual((await answer(ok)).messages, [{ echo: { n: 2 } }]);
    });
  }

  it('a response over the send limit is RESOURCE_EXHAUSTED, not sent', async () => {
    const session = await serve((s) => s.register(json('/t/Big'), (call) => (call.onHalfClose = () => call.end(null, 'y'.repeat(2000)))));
    const req = session.request(GRPC('/t/Big'));
    req.end(framed({}));
    const a = await answer(req);
    assert.equal(a.grpcStatus, String(Status.RESOURCE_EXHAUSTED));
    assert.deepEqual(a.messages, []);
  });

  it('counts the unary calls begun and under way (util/call-count), not the streaming ones', async () => {
    const calls = new CallCount();
    let pending: RpcCall | undefined;
    const session = await serve(
      (s) => {
        s.register(json('/t/Wait'), (call) => (pending = call));
        s.register(json('/t/Sum', true), (call) => (call.onHalfClose = () => call.end(null, { sum: 0 })));
      },
      {},
      calls,
    );
    const req = session.request(GRPC('/t/Wait'));
    req.end(framed({}));
    await until('the call', () => pending !== undefined);
    assert.deepEqual([calls.started, calls.underWay], [1, 1]);
    pending!.end(null, { ok: true });
    await answer(req);
    assert.deepEqual([calls.started, calls.underWay], [1, 0]);
    const cancelled = session.request(GRPC('/t/Wait'));
    cancelled.end(framed({}));
    await until('the second call', () => calls.started === 2);
    cancelled.close();
    await until('the cancelled call ended', () => calls.underWay === 0);
    const streamed = session.request(GRPC('/t/Sum'));
    streamed.end(framed({ n: 1 }));
    await answer(streamed);
    assert.deepEqual([calls.started, calls.underWay], [2, 0]);
  });

  it('tryShutdown waits for the call under way, refuses new ones, then is done', async () => {
    let server: RpcServer | undefined;
    let pending: RpcCall | undefined;
    const session = await serve((s) => {
      server = s;
      s.register(json('/t/Wait'), (call) => (pending = call));
    });
    const req = session.request(GRPC('/t/Wait'));
    req.end(framed({}));
    await until('the call', () => pending !== undefined);
    let done = false;
    server!.tryShutdown(() => (done = true));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(done, false, 'not before the call ends');
    pending!.end(null, { ok: true });
    assert.deepEqual((await answer(req)).messages, [{ ok: true }]);
    await until('shut down', () => done);
  });
});
