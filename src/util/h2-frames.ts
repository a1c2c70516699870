/** HTTP/2 (RFC 9113) framing: frame types, flags, settings and error codes, and a frame reader. */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
export const FRAME_HEADER = 9;

export const DATA = 0x0;
export const HEADERS = 0x1;
export const RST_STREAM = 0x3;
export const SETTINGS = 0x4;
export const PUSH_PROMISE = 0x5;
export const PING = 0x6;
export const GOAWAY = 0x7;
export const WINDOW_UPDATE = 0x8;
export const CONTINUATION = 0x9;

export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const PADDED = 0x8;
export const PRIORITY = 0x20;

/** SETTINGS parameters (RFC 9113 6.5.2). */
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
export const SETTINGS_MAX_FRAME_SIZE = 0x5;
export const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;

/** Error codes (RFC 9113 7). */
export const NO_ERROR = 0x0;
export const PROTOCOL_ERROR = 0x1;
export const INTERNAL_ERROR = 0x2;
export const FLOW_CONTROL_ERROR = 0x3;
export const STREAM_CLOSED = 0x5;
export const FRAME_SIZE_ERROR = 0x6;
export const REFUSED_STREAM = 0x7;
export const CANCEL = 0x8;
export const COMPRESSION_ERROR = 0x9;
export const ENHANCE_YOUR_CALM = 0xb;

/** SETTINGS_MAX_FRAME_SIZE's default, and the largest frame a peer may send before it says otherwise. */
export const DEFAULT_MAX_FRAME = 16384;
/** The initial flow-control window of a connection and of each stream, until SETTINGS say otherwise. */
export const DEFAULT_WINDOW = 65535;
/** The largest a flow-control window may grow. */
export const MAX_WINDOW = 2 ** 31 - 1;

/** A connection that breaks the protocol: it is closed, with `code` in its GOAWAY. */
export class ProtocolError extends Error {
  constructor(
    message: string,
    readonly code = PROTOCOL_ERROR,
  ) {
    super(message);
  }
}

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

// Byte by byte, here, in FrameReader and in gRPC's length prefix (cri/rpc-call.ts), not
// through Buffer's read/write methods: each frame of every call passes here, and on a daemon
// whose code is not yet compiled (the first calls of a kind) those methods' argument checks
// cost more than the frame.

/** Stores `v` (0 to 2^32 - 1, checked by the caller) big-endian at `b[at]`. */
export function putUint32(b: Buffer, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

/** The big-endian unsigned 32-bit number at `b[at]` (the shifts leave a sign; `>>> 0` clears it). */
export function uint32At(b: Buffer, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Writes a frame header (RFC 9113 4.1) at `b[at]`. */
function writeHeader(b: Buffer, length: number, type: number, flags: number, stream: number, at = 0): Buffer {
  // What the byte stores would wrap silently (a length of 2^24, a stream id of 2^31, a negative one) is a bug here.
  if (length >>> 24 !== 0 || stream >>> 31 !== 0) throw new RangeError(`frame header: length ${length} or stream ${stream} out of range`);
  b[at] = length >>> 16;
  b[at + 1] = length >>> 8;
  b[at + 2] = length;
  b[at + 3] = type;
  b[at + 4] = flags;
  putUint32(b, at + 5, stream);
  return b;
}

export function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  return writeHeader(Buffer.allocUnsafe(FRAME_HEADER), length, type, flags, stream);
}

/**
 * A whole response of `stream` in one buffer: HEADERS of the block `head`, one DATA frame of
 * the `data` pieces, HEADERS of the block `tail` with END_STREAM. The caller has checked each
 * against the peer's frame size and windows.
 */
export function wholeResponse(stream: number, head: Buffer, data: readonly Buffer[], dataLength: number, tail: Buffer): Buffer {
  const b = Buffer.allocUnsafe(3 * FRAME_HEADER + head.length + dataLength + tail.length);
  writeHeader(b, head.length, HEADERS, END_HEADERS, stream);
  b.set(head, FRAME_HEADER);
  let at = FRAME_HEADER + head.length;
  writeHeader(b, dataLength, DATA, 0, stream, at);
  at += FRAME_HEADER;
  for (const d of data) {
    b.set(d, at);
    at += d.length;
  }
  writeHeader(b, tail.length, HEADERS, END_STREAM | END_HEADERS, stream, at);
  b.set(tail, at + FRAME_HEADER);
  return b;
}

/** One whole frame: its header and `payload`. */
export function frame(type: number, flags: number, stream: number, payload: Buffer = EMPTY): Buffer {
  const b = writeHeader(Buffer.allocUnsafe(FRAME_HEADER + payload.length), payload.length, type, flags, stream);
  b.set(payload, FRAME_HEADER);
  return b;
}

/** A frame whose payload is one 32-bit number (WINDOW_UPDATE, RST_STREAM). */
export function frame32(type: number, stream: number, value: number): Buffer {
  if (!(value >= 0 && value <= 0xffffffff)) throw new RangeError(`frame value ${value} out of range`);
  const b = writeHeader(Buffer.allocUnsafe(FRAME_HEADER + 4), 4, type, 0, stream);
  putUint32(b, FRAME_HEADER, value);
  return b;
}

/** A SETTINGS frame announcing each (parameter, value) pair. */
export function settingsFrame(settings: readonly (readonly [number, number])[]): Buffer {
  const payload = Buffer.allocUnsafe(settings.length * 6);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(SETTINGS, 0, 0, payload);
}

const EMPTY = Buffer.alloc(0);

/** One HEADERS frame, or HEADERS and CONTINUATIONs, none over `maxFrame`. */
export function headerFrames(stream: number, endStream: boolean, block: Buffer, maxFrame = DEFAULT_MAX_FRAME): Buffer[] {
  const first = block.subarray(0, maxFrame);
  let rest = block.subarray(first.length);
  const out = [frameHeader(first.length, HEADERS, (endStream ? END_STREAM : 0) | (rest.length === 0 ? END_HEADERS : 0), stream), first];
  while (rest.length > 0) {
    const piece = rest.subarray(0, maxFrame);
    rest = rest.subarray(piece.length);
    out.push(frameHeader(piece.length, CONTINUATION, rest.length === 0 ? END_HEADERS : 0, stream), piece);
  }
  return out;
}

/**
 * Cuts a connection's bytes into frames, after the client preface. A frame longer than
 * `maxFrame` (the SETTINGS_MAX_FRAME_SIZE this side announced) is FRAME_SIZE_ERROR.
 */
export class FrameReader {
  private buf: Buffer = EMPTY;
  private prefaceSeen = false;

  constructor(private readonly maxFrame = DEFAULT_MAX_FRAME) {}

  push(chunk: Buffer): Frame[] {
    let buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (!this.prefaceSeen) {
      const n = Math.min(buf.length, PREFACE.length);
      if (!buf.subarray(0, n).equals(PREFACE.subarray(0, n))) throw new ProtocolError('not an HTTP/2 client: bad connection preface');
      if (buf.length < PREFACE.length) {
        this.buf = buf;
        return [];
      }
      this.prefaceSeen = true;
      buf = buf.subarray(PREFACE.length);
    }
    const frames: Frame[] = [];
    let at = 0;
    while (buf.length - at >= FRAME_HEADER) {
      const length = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
      if (length > this.maxFrame) throw new ProtocolError(`frame of ${length} bytes, over the ${this.maxFrame} allowed`, FRAME_SIZE_ERROR);
      const end = at + FRAME_HEADER + length;
      if (buf.length < end) break;
      // The reserved bit dropped (RFC 9113 4.1).
      const stream = uint32At(buf, at + 5) & 0x7fffffff;
      frames.push({ type: buf[at + 3]!, flags: buf[at + 4]!, stream, payload: length === 0 ? EMPTY : buf.subarray(end - length, end) });
      at = end;
    }
    // What is kept is copied: a slice would hold the whole read buffer.
    this.buf = at === buf.length ? EMPTY : Buffer.from(buf.subarray(at));
    return frames;
  }
}

/** A HEADERS or DATA frame's payload without its padding (and HEADERS' priority fields). */
export function unpadded(f: Frame): Buffer {
  if ((f.flags & PADDED) === 0 && (f.type !== HEADERS || (f.flags & PRIORITY) === 0)) return f.payload;
  let p = f.payload;
  let pad = 0;
  if (f.flags & PADDED) {
    if (p.length < 1) throw new ProtocolError('padded frame with no pad length');
    pad = p[0]!;
    p = p.subarray(1);
  }
  if (f.type === HEADERS && f.flags & PRIORITY) p = p.subarray(5);
  if (pad > p.length) throw new ProtocolError('padding longer than the frame');
  return p.subarray(0, p.length - pad);
}
