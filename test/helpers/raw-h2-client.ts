/**
 * A bare HTTP/2 client for one gRPC call, for what no gRPC library lets a test send: any
 * :authority (a path, empty, none at all) or a header Node's own client would refuse.
 * Frames are written and read by hand; header blocks are plain literals.
 */
import type { Duplex } from 'node:stream';
import { frame, PREFACE } from '../../src/util/h2-frames.js';
import { encodeHeaderBlock, HeaderBlockDecoder } from '../../src/util/hpack-block.js';

export { frame, PREFACE };

export interface RawCallResult {
  /** Response headers and trailers, in order. */
  headers: [string, string][];
  /** The response's DATA, gRPC length prefix included. */
  data: Buffer;
  /** The RST_STREAM error code, when the server reset the stream. */
  reset?: number;
}

/** The request headers of a gRPC call to `path`, with `authority` (undefined: none sent). */
export function grpcHeaders(path: string, authority: string | undefined, extra: [string, string][] = []): [string, string][] {
  return [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', path],
    ...(authority === undefined ? [] : [[':authority', authority] as [string, string]]),
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
    ...extra,
  ];
}

/** Sends one request on stream 1 of a new connection and reads until the stream ends. */
export function rawGrpcCall(conn: Duplex, headers: [string, string][], message: Buffer = Buffer.alloc(0), timeoutMs = 10_000): Promise<RawCallResult> {
  return new Promise((resolve, reject) => {
    const decoder = new HeaderBlockDecoder();
    const result: RawCallResult = { headers: [], data: Buffer.alloc(0) };
    let buf = Buffer.alloc(0);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      conn.destroy();
      if (err) reject(err);
      else resolve(result);
    };
    const timer = setTimeout(() => done(new Error(`no end of stream in ${timeoutMs} ms`)), timeoutMs);
    conn.on('error', (err) => done(err));
    conn.on('close', () => done(new Error('connection closed before the stream ended')));
    conn.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
        const len = buf.readUIntBE(0, 3);
        const [type, flags, stream] = [buf[3]!, buf[4]!, buf.readUInt32BE(5) & 0x7fffffff];
        const payload = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type === 0x4 && !(flags & 0x1)) conn.write(frame(0x4, 0x1, 0, Buffer.alloc(0)));
        if (type === 0x7) return done(new Error(`GOAWAY, error ${payload.readUInt32BE(4)}`));
        if (stream !== 1) continue;
        if (type === 0x0) result.data = Buffer.concat([result.data, payload]);
        if (type === 0x3) {
          result.reset = payload.readUInt32BE(0);
          return done();
        }
        if (type === 0x1) {
          for (const h of decoder.decode(flags & 0x20 ? payload.subarray(5) : payload)) result.headers.push([h.name, h.value]);
        }
        if ((type === 0x0 || type === 0x1) && flags & 0x1) return done();
      }
    });
    const grpcMessage = Buffer.concat([Buffer.of(0), Buffer.alloc(4), message]);
    grpcMessage.writeUInt32BE(message.length, 1);
    conn.write(
      Buffer.concat([
        PREFACE,
        frame(0x4, 0, 0, Buffer.alloc(0)),
        frame(0x1, 0x4, 1, encodeHeaderBlock(headers.map(([name, value]) => ({ name, value })))),
        frame(0x0, 0x1, 1, grpcMessage),
      ]),
    );
  });
}
