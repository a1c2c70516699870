import { createRequire } from 'node:module';
import type { Deflate, Inflate } from 'pako';

/** pako is loaded with the first SPDY session, not at start; it is CommonJS. */
let pakoModule: typeof import('pako') | undefined;
const pako = (): typeof import('pako') => (pakoModule ??= createRequire(import.meta.url)('pako') as typeof import('pako'));

/**
 * SPDY/3.1 framing (draft-mbelshe-httpbis-spdy-00 with the 3.1 flow-control change), the
 * wire format Kubernetes' exec, attach and port-forward clients speak (moby/spdystream).
 * Header blocks share one zlib stream per direction, primed with the SPDY/3 dictionary;
 * pako gives a stateful, synchronous zlib so that frames are decoded and encoded in order
 * without an async queue between them.
 */

export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const FLAG_FIN = 0x01;

export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
} as const;

/** Header names are lower case on the wire; several values of one name are NUL-separated. */
export type SpdyHeaders = Record<string, string>;

export type Frame =
  | { type: 'data'; streamId: number; fin: boolean; data: Buffer }
  | { type: 'syn_stream'; streamId: number; fin: boolean; unidirectional: boolean; headers: SpdyHeaders }
  | { type: 'syn_reply'; streamId: number; fin: boolean; headers: SpdyHeaders }
  | { type: 'headers'; streamId: number; fin: boolean; headers: SpdyHeaders }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings' }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'window_update'; streamId: number; delta: number }
  | { type: 'unknown'; code: number };

/** The SPDY/3 header dictionary (draft §2.6.10.1); zlib knows it by its adler32, 0xe3c6a7c2. */
export const HEADER_DICTIONARY = Buffer.from(
  'AAAAB29wdGlvbnMAAAAEaGVhZAAAAARwb3N0AAAAA3B1dAAAAAZkZWxldGUAAAAFdHJhY2UAAAAGYWNjZXB0AAAADmFjY2Vw' +
    'dC1jaGFyc2V0AAAAD2FjY2VwdC1lbmNvZGluZwAAAA9hY2NlcHQtbGFuZ3VhZ2UAAAANYWNjZXB0LXJhbmdlcwAAAANhZ2UA' +
    'AAAFYWxsb3cAAAANYXV0aG9yaXphdGlvbgAAAA1jYWNoZS1jb250cm9sAAAACmNvbm5lY3Rpb24AAAAMY29udGVudC1iYXNl' +
    'AAAAEGNvbnRlbnQtZW5jb2RpbmcAAAAQY29udGVudC1sYW5ndWFnZQAAAA5jb250ZW50LWxlbmd0aAAAABBjb250ZW50LWxv' +
    'Y2F0aW9uAAAAC2NvbnRlbnQtbWQ1AAAADWNvbnRlbnQtcmFuZ2UAAAAMY29udGVudC10eXBlAAAABGRhdGUAAAAEZXRhZwAA' +
    'AAZleHBlY3QAAAAHZXhwaXJlcwAAAARmcm9tAAAABGhvc3QAAAAIaWYtbWF0Y2gAAAARaWYtbW9kaWZpZWQtc2luY2UAAAAN' +
    'aWYtbm9uZS1tYXRjaAAAAAhpZi1yYW5nZQAAABNpZi11bm1vZGlmaWVkLXNpbmNlAAAADWxhc3QtbW9kaWZpZWQAAAAIbG9j' +
    'YXRpb24AAAAMbWF4LWZvcndhcmRzAAAABnByYWdtYQAAABJwcm94eS1hdXRoZW50aWNhdGUAAAATcHJveHktYXV0aG9yaXph' +
    'dGlvbgAAAAVyYW5nZQAAAAdyZWZlcmVyAAAAC3JldHJ5LWFmdGVyAAAABnNlcnZlcgAAAAJ0ZQAAAAd0cmFpbGVyAAAAEXRy' +
    'YW5zZmVyLWVuY29kaW5nAAAAB3VwZ3JhZGUAAAAKdXNlci1hZ2VudAAAAAR2YXJ5AAAAA3ZpYQAAAAd3YXJuaW5nAAAAEHd3' +
    'dy1hdXRoZW50aWNhdGUAAAAGbWV0aG9kAAAAA2dldAAAAAZzdGF0dXMAAAAGMjAwIE9LAAAAB3ZlcnNpb24AAAAISFRUUC8x' +
    'LjEAAAADdXJsAAAABnB1YmxpYwAAAApzZXQtY29va2llAAAACmtlZXAtYWxpdmUAAAAGb3JpZ2luMTAwMTAxMjAxMjAyMjA1' +
    'MjA2MzAwMzAyMzAzMzA0MzA1MzA2MzA3NDAyNDA1NDA2NDA3NDA4NDA5NDEwNDExNDEyNDEzNDE0NDE1NDE2NDE3NTAyNTA0' +
    'NTA1MjAzIE5vbi1BdXRob3JpdGF0aXZlIEluZm9ybWF0aW9uMjA0IE5vIENvbnRlbnQzMDEgTW92ZWQgUGVybWFuZW50bHk0' +
    'MDAgQmFkIFJlcXVlc3Q0MDEgVW5hdXRob3JpemVkNDAzIEZvcmJpZGRlbjQwNCBOb3QgRm91bmQ1MDAgSW50ZXJuYWwgU2Vy' +
    'dmVyIEVycm9yNTAxIE5vdCBJbXBsZW1lbnRlZDUwMyBTZXJ2aWNlIFVuYXZhaWxhYmxlSmFuIEZlYiBNYXIgQXByIE1heSBK' +
    'dW4gSnVsIEF1ZyBTZXB0IE9jdCBOb3YgRGVjIDAwOjAwOjAwIE1vbiwgVHVlLCBXZWQsIFRodSwgRnJpLCBTYXQsIFN1biwg' +
    'R01UY2h1bmtlZCx0ZXh0L2h0bWwsaW1hZ2UvcG5nLGltYWdlL2pwZyxpbWFnZS9naWYsYXBwbGljYXRpb24veG1sLGFwcGxp' +
    'Y2F0aW9uL3hodG1sK3htbCx0ZXh0L3BsYWluLHRleHQvamF2YXNjcmlwdCxwdWJsaWNwcml2YXRlbWF4LWFnZT1nemlwLGRl' +
    'ZmxhdGUsc2RjaGNoYXJzZXQ9dXRmLThjaGFyc2V0PWlzby04ODU5LTEsdXRmLSwqLGVucT0wLg==',
  'base64',
);

const VERSION = 3;
const HEADER = 8;
/** Control frames carry a header block and small fixed fields: the block's cap plus room for those. */
const CONTROL_OVERHEAD = 1024;
/**
 * pako's output buffer size: it allocates one per header block (a sync flush hands the
 * buffer out), and header blocks are small; its defaults (64 KiB to inflate) made every
 * SYN_STREAM cost 64 KiB of garbage.
 */
const ZLIB_CHUNK = 4 << 10;
/** Data frames are split at this size when written. */
export const MAX_DATA_CHUNK = 32 * 1024;
/** The cap on an inflated header block when none is given. */
const DEFAULT_MAX_HEADER_BYTES = 256 << 10;

export class SpdyProtocolError extends Error {}

/**
 * Incremental decoder: feed it bytes as they arrive, take whole frames out. A data frame's
 * payload is handed out as it arrives, in pieces (the last one carries the frame's FIN), so
 * that a frame of 16 MiB is never held whole; a control frame is held until complete, and
 * may be no larger than its header block's cap allows. After a protocol error the decoder
 * refuses everything: the connection is to be closed.
 */
export class FrameDecoder {
  /**
   * An incomplete frame head or control frame, put together in a buffer of the size it needs
   * (`need`, known from the head), so that a frame trickled in byte by byte is copied once,
   * not whole at every read, and holds no socket read it came in.
   */
  private assembly: Buffer | undefined;
  private fill = 0;
  /** Bytes copied to put frames together so far; for tests and diagnostics. */
  bytesCopied = 0;
  private readonly inflate: Inflate = new (pako().Inflate)({ dictionary: HEADER_DICTIONARY, chunkSize: ZLIB_CHUNK });
  private inflated: Uint8Array[] = [];
  private inflatedBytes = 0;
  /** The data frame whose payload is arriving. */
  private data: { streamId: number; fin: boolean; left: number } | undefined;
  private failed: SpdyProtocolError | undefined;

  constructor(private readonly maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES) {
    // pako inflates a whole push synchronously; throwing here stops it at the first chunk
    // past the cap instead of inflating a bomb to its end.
    this.inflate.onData = (chunk) => {
      this.inflatedBytes += chunk.length;
      if (this.inflatedBytes > this.maxHeaderBytes) throw new SpdyProtocolError(`header block inflates past ${this.maxHeaderBytes} bytes`);
      this.inflated.push(chunk);
    };
  }

  push(chunk: Buffer): Frame[] {
    if (this.failed) throw this.failed;
    try {
      return this.decode(chunk);
    } catch (err) {
      this.failed = err instanceof SpdyProtocolError ? err : new SpdyProtocolError(String(err));
      this.assembly = undefined;
      throw this.failed;
    }
  }

  private decode(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let input = chunk;
    while (this.assembly) {
      const a = this.assembly;
      const n = Math.min(a.length - this.fill, input.length);
      input.copy(a, this.fill, 0, n);
      this.bytesCopied += n;
      this.fill += n;
      input = input.subarray(n);
      if (this.fill < a.length) return frames;
      this.assembly = undefined;
      this.run(a, frames);
    }
    this.run(input, frames);
    return frames;
  }

  /** Decodes what `buffer` holds; an incomplete head or control frame at its end starts an assembly. */
  private run(buffer: Buffer, frames: Frame[]): void {
    let b = buffer;
    for (;;) {
      if (this.data) {
        const d = this.data;
        const n = Math.min(d.left, b.length);
        if (n === 0 && d.left > 0) return;
        const part = b.subarray(0, n);
        b = b.subarray(n);
        d.left -= n;
        if (d.left === 0) this.data = undefined;
        frames.push({ type: 'data', streamId: d.streamId, fin: d.left === 0 && d.fin, data: part });
        continue;
      }
      if (b.length === 0) return;
      if (b.length < HEADER) return this.assemble(b, HEADER);
      const length = b.readUIntBE(5, 3);
      const control = (b[0]! & 0x80) !== 0;
      if (!control) {
        this.data = { streamId: b.readUInt32BE(0) & 0x7fffffff, fin: (b[4]! & FLAG_FIN) !== 0, left: length };
        b = b.subarray(HEADER);
        continue;
      }
      const max = this.maxHeaderBytes + CONTROL_OVERHEAD;
      if (length > max) throw new SpdyProtocolError(`control frame of ${length} bytes (at most ${max})`);
      if (b.length < HEADER + length) return this.assemble(b, HEADER + length);
      frames.push(this.control(b.subarray(0, HEADER + length)));
      b = b.subarray(HEADER + length);
    }
  }

  private assemble(part: Buffer, need: number): void {
    this.assembly = Buffer.allocUnsafe(need);
    part.copy(this.assembly);
    this.bytesCopied += part.length;
    this.fill = part.length;
  }

  private control(frame: Buffer): Frame {
    const version = frame.readUInt16BE(0) & 0x7fff;
    if (version !== VERSION) throw new SpdyProtocolError(`SPDY version ${version}`);
    const type = frame.readUInt16BE(2);
    const flags = frame[4]!;
    const p = frame.subarray(HEADER);
    const fin = (flags & FLAG_FIN) !== 0;
    const need = (n: number): void => {
      if (p.length < n) throw new SpdyProtocolError(`frame type ${type}: ${p.length} bytes, needs ${n}`);
    };
    switch (type) {
      case FrameType.SYN_STREAM:
        need(10);
        return { type: 'syn_stream', streamId: p.readUInt32BE(0) & 0x7fffffff, fin, unidirectional: (flags & 0x02) !== 0, headers: this.headers(p.subarray(10)) };
      case FrameType.SYN_REPLY:
        need(4);
        return { type: 'syn_reply', streamId: p.readUInt32BE(0) & 0x7fffffff, fin, headers: this.headers(p.subarray(4)) };
      case FrameType.HEADERS:
        need(4);
        return { type: 'headers', streamId: p.readUInt32BE(0) & 0x7fffffff, fin, headers: this.headers(p.subarray(4)) };
      case FrameType.RST_STREAM:
        need(8);
        return { type: 'rst_stream', streamId: p.readUInt32BE(0) & 0x7fffffff, status: p.readUInt32BE(4) };
      case FrameType.SETTINGS:
        return { type: 'settings' };
      case FrameType.PING:
        need(4);
        return { type: 'ping', id: p.readUInt32BE(0) };
      case FrameType.GOAWAY:
        need(4);
        return { type: 'goaway', lastGoodStreamId: p.readUInt32BE(0) & 0x7fffffff, status: p.length >= 8 ? p.readUInt32BE(4) : 0 };
      case FrameType.WINDOW_UPDATE:
        need(8);
        return { type: 'window_update', streamId: p.readUInt32BE(0) & 0x7fffffff, delta: p.readUInt32BE(4) & 0x7fffffff };
      default:
        return { type: 'unknown', code: type };
    }
  }

  /** Every header block goes through the one inflate stream, even an empty one, in order. */
  private headers(block: Buffer): SpdyHeaders {
    if (block.length === 0) return {};
    this.inflated = [];
    this.inflatedBytes = 0;
    this.inflate.push(block, pako().Z_SYNC_FLUSH);
    if (this.inflate.err) throw new SpdyProtocolError(`header block: zlib: ${this.inflate.msg || this.inflate.err}`);
    const plain = Buffer.concat(this.inflated);
    this.inflated = [];
    return parseHeaderBlock(plain);
  }
}

export function parseHeaderBlock(b: Buffer): SpdyHeaders {
  const headers: SpdyHeaders = {};
  let at = 0;
  const take = (): string => {
    if (at + 4 > b.length) throw new SpdyProtocolError('header block truncated');
    const n = b.readUInt32BE(at);
    at += 4;
    if (at + n > b.length) throw new SpdyProtocolError('header block truncated');
    const s = b.toString('latin1', at, at + n);
    at += n;
    return s;
  };
  if (b.length < 4) throw new SpdyProtocolError('header block truncated');
  const count = b.readUInt32BE(0);
  at = 4;
  for (let i = 0; i < count; i++) {
    const name = take().toLowerCase();
    headers[name] = take();
  }
  return headers;
}

export function headerBlock(headers: SpdyHeaders): Buffer {
  const entries = Object.entries(headers);
  const parts: Buffer[] = [u32(entries.length)];
  for (const [name, value] of entries) {
    const n = Buffer.from(name.toLowerCase(), 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

/** Encoder for one direction of one connection: frames must be written in encoding order. */
export class FrameEncoder {
  private readonly deflate: Deflate = new (pako().Deflate)({ dictionary: HEADER_DICTIONARY, chunkSize: ZLIB_CHUNK });
  private deflated: Uint8Array[] = [];

  constructor() {
    this.deflate.onData = (chunk) => this.deflated.push(chunk);
  }

  synStream(streamId: number, headers: SpdyHeaders, fin = false): Buffer {
    const fixed = Buffer.alloc(10);
    fixed.writeUInt32BE(streamId, 0);
    return control(FrameType.SYN_STREAM, fin ? FLAG_FIN : 0, Buffer.concat([fixed, this.compress(headers)]));
  }

  synReply(streamId: number, headers: SpdyHeaders, fin = false): Buffer {
    return control(FrameType.SYN_REPLY, fin ? FLAG_FIN : 0, Buffer.concat([u32(streamId), this.compress(headers)]));
  }

  rstStream(streamId: number, status: number): Buffer {
    return control(FrameType.RST_STREAM, 0, Buffer.concat([u32(streamId), u32(status)]));
  }

  ping(id: number): Buffer {
    return control(FrameType.PING, 0, u32(id));
  }

  goAway(lastGoodStreamId: number, status = 0): Buffer {
    return control(FrameType.GOAWAY, 0, Buffer.concat([u32(lastGoodStreamId), u32(status)]));
  }

  data(streamId: number, data: Buffer, fin = false): Buffer {
    return Buffer.concat([this.dataHead(streamId, data.length, fin), data]);
  }

  /** A DATA frame's 8 bytes, for a payload written after it as it is (not copied into the frame). */
  dataHead(streamId: number, length: number, fin = false): Buffer {
    const head = Buffer.alloc(HEADER);
    head.writeUInt32BE(streamId & 0x7fffffff, 0);
    head[4] = fin ? FLAG_FIN : 0;
    head.writeUIntBE(length, 5, 3);
    return head;
  }

  private compress(headers: SpdyHeaders): Buffer {
    this.deflated = [];
    this.deflate.push(headerBlock(headers), pako().Z_SYNC_FLUSH);
    return Buffer.concat(this.deflated);
  }
}

function control(type: number, flags: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(HEADER);
  head.writeUInt16BE(0x8000 | VERSION, 0);
  head.writeUInt16BE(type, 2);
  head[4] = flags;
  head.writeUIntBE(payload.length, 5, 3);
  return Buffer.concat([head, payload]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}
