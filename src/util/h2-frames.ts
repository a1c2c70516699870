/** HTTP/2 (RFC 9113) framing, the little of it that the authority rewriting needs. */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
export const FRAME_HEADER = 9;
export const HEADERS = 0x1;
export const SETTINGS = 0x4;
export const CONTINUATION = 0x9;
export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const PADDED = 0x8;
export const PRIORITY = 0x20;
/** SETTINGS_MAX_FRAME_SIZE as Node's HTTP/2 server announces it (the default). */
const MAX_FRAME = 16384;

/** A connection that breaks the protocol: it is closed. */
export class ProtocolError extends Error {}

export function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const b = Buffer.alloc(FRAME_HEADER);
  b.writeUIntBE(length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream, 5);
  return b;
}

/** One HEADERS frame, or HEADERS and CONTINUATIONs, none over the server's frame size. */
export function headerFrames(stream: number, endStream: boolean, priority: Buffer | undefined, block: Buffer): Buffer[] {
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
