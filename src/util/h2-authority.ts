/**
 * The client-to-server bytes of a connection whose header blocks are rewritten so that
 * nghttp2 accepts their authority (see h2-accept.ts for why and when): every header block is
 * decoded, keeping the client's dynamic table, and written again with the authority replaced
 * by `localhost` where nghttp2 would refuse it. Everything else passes through as it came, so
 * every other HTTP/2 check is still nghttp2's.
 */
import { ACK, CONTINUATION, END_HEADERS, END_STREAM, FRAME_HEADER, HEADERS, headerFrames, PADDED, PREFACE, PRIORITY, ProtocolError, SETTINGS } from './h2-frames.js';
import { encodeHeaderBlock, HeaderBlockDecoder } from './hpack-block.js';

/** A header block (compressed) past this ends the connection. */
export const MAX_HEADER_BLOCK = 64 * 1024;

/** What nghttp2 accepts in an authority: RFC 3986's unreserved, sub-delims, ':', '%', '@', '[', ']'. */
const VALID_AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:%@[\]]+$/;
const REPLACEMENT_AUTHORITY = 'localhost';

type Field = { name: string; value: string };
const isAuthority = (h: Field): boolean => h.name === ':authority' || h.name === 'host';
const refused = (h: Field): boolean => isAuthority(h) && !VALID_AUTHORITY.test(h.value);

/**
 * The header list with any authority nghttp2 would refuse (one it cannot parse, an empty one,
 * none at all in a request: it wants `:authority` or `host`) made `localhost`. Trailers
 * (a block with no `:method`) get none added.
 */
export function fixAuthority(headers: readonly Field[]): Field[] {
  const out = headers.map((h) => (refused(h) ? { name: h.name, value: REPLACEMENT_AUTHORITY } : h));
  if (out.some((h) => h.name === ':method') && !out.some(isAuthority)) {
    // Pseudo-headers come first: the authority goes after the last of them.
    const at = out.findIndex((h) => !h.name.startsWith(':'));
    out.splice(at === -1 ? out.length : at, 0, { name: ':authority', value: REPLACEMENT_AUTHORITY });
  }
  return out;
}

const EMPTY = Buffer.alloc(0);

/** An authority nghttp2 takes as it is: the request needs no rewriting. */
export function authorityAccepted(headers: readonly Field[]): boolean {
  return headers.some(isAuthority) && !headers.some(refused);
}

/**
 * The client-to-server half of one connection: frames in, the same frames out, header
 * blocks rewritten. Kept apart from the stream plumbing so it can be tested on bytes alone.
 */
export class AuthorityRewriter {
  /** The decoded fields of the client's first header block, once it is complete. */
  firstHeaders: { name: string; value: string }[] | undefined;
  /**
   * Where, in the bytes the client sent, the SETTINGS ACK answering the daemon's own SETTINGS
   * was; that frame is taken out, as the HTTP/2 server did not send those settings.
   */
  ackOffset: number | undefined;
  /** How many of the client's bytes came before `pending`. */
  private base = 0;
  /** An incomplete frame (or preface), kept in pieces until `needed` bytes are there. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private needed = 0;
  private prefaceSeen = false;
  /** Payload bytes of a frame that are passed on without being looked at. */
  private passing = 0;
  private block?: { stream: number; endStream: boolean; priority: Buffer | undefined; fragments: Buffer[]; size: number };
  private readonly decoder = new HeaderBlockDecoder();

  /** `ownSettings`: the daemon sent the client a SETTINGS frame of its own, whose ACK is removed. */
  constructor(private readonly ownSettings = false) {}

  /**
   * The bytes to hand to the server for `chunk`; throws on a connection that must end. What
   * holds no header block is passed on as the same bytes, in one buffer, uncopied.
   */
  push(chunk: Buffer): Buffer {
    if (this.pendingBytes + chunk.length < this.needed) {
      // Still short of a whole frame: the pieces are joined once, when it is complete.
      if (!this.prefaceSeen) this.checkPreface(Buffer.concat([...this.pending, chunk]));
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      return EMPTY;
    }
    const data = this.pendingBytes > 0 ? Buffer.concat([...this.pending, chunk]) : chunk;
    this.keep(EMPTY, 0);
    let at = 0;
    if (!this.prefaceSeen) {
      this.checkPreface(data);
      if (data.length < PREFACE.length) {
        this.keep(data, PREFACE.length);
        return EMPTY;
      }
      this.prefaceSeen = true;
      at = PREFACE.length;
    }
    const parts: Buffer[] = [];
    let unchangedFrom = 0;
    while (at < data.length) {
      if (this.passing > 0) {
        const n = Math.min(this.passing, data.length - at);
        this.passing -= n;
        at += n;
        continue;
      }
      if (data.length - at < FRAME_HEADER) break;
      const length = data.readUIntBE(at, 3);
      const type = data[at + 3]!;
      if (type !== HEADERS && type !== CONTINUATION) {
        if (this.block) throw new ProtocolError('a frame inside a header block');
        if (type === SETTINGS && data[at + 4]! & ACK && length === 0 && this.ownSettings && this.ackOffset === undefined) {
          if (at > unchangedFrom) parts.push(data.subarray(unchangedFrom, at));
          this.ackOffset = this.base + at;
          at += FRAME_HEADER;
          unchangedFrom = at;
          continue;
        }
        this.passing = length;
        at += FRAME_HEADER;
        continue;
      }
      if (data.length - at < FRAME_HEADER + length) break;
      if (at > unchangedFrom) parts.push(data.subarray(unchangedFrom, at));
      const payload = data.subarray(at + FRAME_HEADER, at + FRAME_HEADER + length);
      parts.push(...this.headerFrame(type, data[at + 4]!, data.readUInt32BE(at + 5) & 0x7fffffff, payload));
      at += FRAME_HEADER + length;
      unchangedFrom = at;
    }
    if (at > unchangedFrom) parts.push(data.subarray(unchangedFrom, at));
    this.base += at;
    if (at < data.length) {
      const rest = data.subarray(at);
      const needed = rest.length < FRAME_HEADER ? FRAME_HEADER : FRAME_HEADER + rest.readUIntBE(0, 3);
      if (needed > FRAME_HEADER + MAX_HEADER_BLOCK) throw new ProtocolError('header frame too large');
      this.keep(Buffer.from(rest), needed);
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private keep(rest: Buffer, needed: number): void {
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    this.needed = needed;
  }

  private checkPreface(data: Buffer): void {
    const seen = data.subarray(0, PREFACE.length);
    if (!PREFACE.subarray(0, seen.length).equals(seen)) throw new ProtocolError('not an HTTP/2 client: no connection preface');
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
    const decoded = this.decoder.decode(Buffer.concat(block.fragments));
    this.firstHeaders ??= decoded;
    const headers = fixAuthority(decoded);
    return headerFrames(block.stream, block.endStream, block.priority, encodeHeaderBlock(headers));
  }
}
