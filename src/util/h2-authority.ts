/**
 * Every request served whatever its `:authority`. nghttp2, under Node's HTTP/2 server, resets
 * a stream whose `:authority` (or `host`) holds a character RFC 3986 does not allow in one,
 * such as the `/` of the socket path that grpc-go clients before 1.5x send over a unix socket
 * (kubelet up to 1.26, grpc-java, older tools). containerd and CRI-O take any authority, and
 * Node has no option to turn that one check off, so a client's connection is read here
 * before the HTTP/2 server sees it: every header block the client sends is decoded (hpack.js
 * keeps the client's dynamic table) and written again with the authority replaced by
 * `localhost` where nghttp2 would refuse it. Everything else passes through as it came, so
 * every other HTTP/2 check is still nghttp2's; the server's side of the connection is not
 * touched at all.
 */
import { Duplex } from 'node:stream';
import hpack, { type DecodedHeader, type Decompressor } from 'hpack.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const FRAME_HEADER = 9;
const HEADERS = 0x1;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** SETTINGS_HEADER_TABLE_SIZE and SETTINGS_MAX_FRAME_SIZE as Node's server announces them. */
const TABLE_SIZE = 4096;
const MAX_FRAME = 16384;
/** A header block (compressed) and a header list (decoded) past these end the connection. */
export const MAX_HEADER_BLOCK = 64 * 1024;
export const MAX_HEADER_LIST = 256 * 1024;

/** What nghttp2 accepts in an authority: RFC 3986's unreserved, sub-delims, ':', '%', '@', '[', ']'. */
const VALID_AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:%@[\]]+$/;
export const REPLACEMENT_AUTHORITY = 'localhost';

/**
 * The header list with any authority nghttp2 would refuse (one it cannot parse, an empty one,
 * none at all: it wants `:authority` or `host`) made `localhost`.
 */
export function fixAuthority(headers: readonly { name: string; value: string }[]): { name: string; value: string }[] {
  const out = headers.map((h) =>
    (h.name === ':authority' || h.name === 'host') && !VALID_AUTHORITY.test(h.value) ? { name: h.name, value: REPLACEMENT_AUTHORITY } : h,
  );
  if (!out.some((h) => h.name === ':authority' || h.name === 'host')) {
    // Pseudo-headers come first: the authority goes after the last of them.
    const at = out.findIndex((h) => !h.name.startsWith(':'));
    out.splice(at === -1 ? out.length : at, 0, { name: ':authority', value: REPLACEMENT_AUTHORITY });
  }
  return out;
}

/** Writes an HPACK integer with a `prefixBits` prefix (first byte's high bits: `first`). */
function writeInt(buf: Buffer, at: number, value: number, prefixBits: number, first: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    buf[at] = first | value;
    return at + 1;
  }
  buf[at++] = first | max;
  for (value -= max; value >= 128; value = Math.floor(value / 128)) buf[at++] = (value % 128) + 128;
  buf[at] = value;
  return at + 1;
}

/**
 * A header block of literals "without indexing, new name" (RFC 7541 6.2.2). Written by hand:
 * it is a few lines, and a block that never indexes leaves the server's dynamic table empty,
 * so there is no second table to keep in step with (hpack.js's compressor indexes).
 */
export function encodeHeaderBlock(headers: readonly { name: string; value: string }[]): Buffer {
  let size = 0;
  for (const h of headers) size += 1 + 2 * 6 + h.name.length + h.value.length;
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  for (const h of headers) {
    buf[at++] = 0;
    at = writeInt(buf, at, h.name.length, 7, 0);
    at += buf.write(h.name, at, 'latin1');
    at = writeInt(buf, at, h.value.length, 7, 0);
    at += buf.write(h.value, at, 'latin1');
  }
  return buf.subarray(0, at);
}

function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const b = Buffer.alloc(FRAME_HEADER);
  b.writeUIntBE(length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream, 5);
  return b;
}

/** One HEADERS frame, or HEADERS and CONTINUATIONs, none over the server's frame size. */
function headerFrames(stream: number, endStream: boolean, priority: Buffer | undefined, block: Buffer): Buffer[] {
  const out: Buffer[] = [];
  const first = priority ? Buffer.concat([priority, block.subarray(0, MAX_FRAME - priority.length)]) : block.subarray(0, MAX_FRAME);
  let rest = block.subarray(first.length - (priority?.length ?? 0));
  const flags = (endStream ? END_STREAM : 0) | (priority ? PRIORITY : 0) | (rest.length === 0 ? END_HEADERS : 0);
  out.push(frameHeader(first.length, HEADERS, flags, stream), first);
  while (rest.length > 0) {
    const piece = rest.subarray(0, MAX_FRAME);
    rest = rest.subarray(piece.length);
    out.push(frameHeader(piece.length, CONTINUATION, rest.length === 0 ? END_HEADERS : 0, stream), piece);
  }
  return out;
}

class ProtocolError extends Error {}

/**
 * The client-to-server half of one connection: frames in, the same frames out, header
 * blocks rewritten. Kept apart from the stream plumbing so it can be tested on bytes alone.
 */
export class AuthorityRewriter {
  private buffered: Buffer = Buffer.alloc(0);
  private prefaceSeen = false;
  /** Payload bytes of a frame that are passed on without being looked at. */
  private passing = 0;
  private block?: { stream: number; endStream: boolean; priority: Buffer | undefined; fragments: Buffer[]; size: number };
  private readonly decoder: Decompressor = hpack.decompressor.create({ table: { size: TABLE_SIZE } });
  private decodeError: Error | undefined;

  constructor() {
    this.decoder.on('error', (err) => {
      this.decodeError = err;
    });
  }

  /** The bytes to hand to the server for `chunk`; throws on a connection that must end. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let data = this.buffered.length > 0 ? Buffer.concat([this.buffered, chunk]) : chunk;
    this.buffered = Buffer.alloc(0);
    if (!this.prefaceSeen) {
      if (data.length < PREFACE.length) {
        if (!PREFACE.subarray(0, data.length).equals(data)) throw new ProtocolError('not an HTTP/2 client: no connection preface');
        this.buffered = data;
        return out;
      }
      if (!data.subarray(0, PREFACE.length).equals(PREFACE)) throw new ProtocolError('not an HTTP/2 client: no connection preface');
      out.push(data.subarray(0, PREFACE.length));
      data = data.subarray(PREFACE.length);
      this.prefaceSeen = true;
    }
    while (data.length > 0) {
      if (this.passing > 0) {
        const piece = data.subarray(0, this.passing);
        this.passing -= piece.length;
        out.push(piece);
        data = data.subarray(piece.length);
        continue;
      }
      if (data.length < FRAME_HEADER) break;
      const length = data.readUIntBE(0, 3);
      const type = data[3]!;
      if (type !== HEADERS && type !== CONTINUATION) {
        if (this.block) throw new ProtocolError('a frame inside a header block');
        out.push(data.subarray(0, FRAME_HEADER));
        this.passing = length;
        data = data.subarray(FRAME_HEADER);
        continue;
      }
      if (data.length < FRAME_HEADER + length) break;
      out.push(...this.headerFrame(type, data[4]!, data.readUInt32BE(5) & 0x7fffffff, data.subarray(FRAME_HEADER, FRAME_HEADER + length)));
      data = data.subarray(FRAME_HEADER + length);
    }
    if (data.length > 0) {
      if (data.length > FRAME_HEADER + MAX_HEADER_BLOCK) throw new ProtocolError('header frame too large');
      this.buffered = Buffer.from(data);
    }
    return out;
  }

  private headerFrame(type: number, flags: number, stream: number, payload: Buffer): Buffer[] {
    if (type === HEADERS) {
      if (this.block) throw new ProtocolError('HEADERS inside a header block');
      let body = payload;
      let pad = 0;
      if (flags & PADDED) {
        if (body.length < 1) throw new ProtocolError('HEADERS: short padded frame');
        pad = body[0]!;
        body = body.subarray(1);
      }
      let priority: Buffer | undefined;
      if (flags & PRIORITY) {
        if (body.length < 5) throw new ProtocolError('HEADERS: short priority');
        priority = Buffer.from(body.subarray(0, 5));
        body = body.subarray(5);
      }
      if (pad > body.length) throw new ProtocolError('HEADERS: padding longer than the frame');
      this.block = { stream, endStream: (flags & END_STREAM) !== 0, priority, fragments: [], size: 0 };
      payload = body.subarray(0, body.length - pad);
    } else if (!this.block || this.block.stream !== stream) {
      throw new ProtocolError('CONTINUATION outside a header block');
    }
    const block = this.block;
    block.size += payload.length;
    if (block.size > MAX_HEADER_BLOCK) throw new ProtocolError(`header block over ${MAX_HEADER_BLOCK} bytes`);
    block.fragments.push(Buffer.from(payload));
    if (!(flags & END_HEADERS)) return [];
    this.block = undefined;
    const headers = fixAuthority(this.decode(Buffer.concat(block.fragments)));
    return headerFrames(block.stream, block.endStream, block.priority, encodeHeaderBlock(headers));
  }

  private decode(block: Buffer): DecodedHeader[] {
    this.decoder.write(block);
    this.decoder.execute();
    if (this.decodeError) throw new ProtocolError(`header block: ${this.decodeError.message}`);
    const headers: DecodedHeader[] = [];
    let size = 0;
    for (let h = this.decoder.read(); h !== null; h = this.decoder.read()) {
      size += h.name.length + h.value.length + 32;
      if (size > MAX_HEADER_LIST) throw new ProtocolError(`header list over ${MAX_HEADER_LIST} bytes`);
      headers.push(h);
    }
    return headers;
  }
}

/**
 * A client's connection as the HTTP/2 server should see it: reads rewritten, writes passed
 * through, backpressure and errors carried both ways. `onProtocolError` hears why a
 * connection was cut.
 */
export function rewriteAuthority(socket: Duplex, onProtocolError: (err: Error) => void): Duplex {
  const rewriter = new AuthorityRewriter();
  const conn: Duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, callback) {
      if (socket.write(chunk)) callback();
      else socket.once('drain', () => callback());
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(err, callback) {
      socket.destroy(err ?? undefined);
      callback(err);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    let out: Buffer[];
    try {
      out = rewriter.push(chunk);
    } catch (err) {
      onProtocolError(err as Error);
      socket.destroy();
      return;
    }
    let more = true;
    for (const b of out) more = conn.push(b);
    if (!more) socket.pause();
  });
  let ended = false;
  socket.on('end', () => {
    ended = true;
    conn.push(null);
  });
  socket.on('error', (err) => conn.destroy(err));
  // After a clean end the server reads what is left and closes; before it, the peer is gone.
  socket.on('close', () => {
    if (!ended) conn.destroy();
  });
  return conn;
}
