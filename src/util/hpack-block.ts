/**
 * HPACK (RFC 7541) for the HTTP/2 server (h2-connection.ts): a decoder that keeps one peer's
 * dynamic table, and an encoder of plain literals.
 */
import hpack, { type Table } from 'hpack.js';
import { COMPRESSION_ERROR, ProtocolError } from './h2-frames.js';
import type { HeaderField } from './h2-stream.js';

/** SETTINGS_HEADER_TABLE_SIZE as the server leaves it (the default: it announces none). */
const TABLE_SIZE = 4096;
/** A header list (decoded) past this ends the connection. */
export const MAX_HEADER_LIST = 256 * 1024;

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

/** The most blocks of indexed fields a decoder remembers (a client's methods, each its own :path). */
const MAX_REMEMBERED = 64;
/**
 * The longest block remembered: a gRPC call's is 8-20 bytes. What is remembered stays small
 * whatever a client sends (at most 64 lists of 64 fields, their strings the table's own).
 */
const MAX_REMEMBERED_BLOCK = 64;

/**
 * Whether `block` is only indexed fields of one byte each (RFC 7541 6.1, an index of 1 to
 * 126): such a block leaves the dynamic table as it is, and what it decodes to depends on
 * nothing but its bytes and that table.
 */
function oneByteIndexed(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) {
    const b = block[i]!;
    if (b <= 0x80 || b === 0xff) return false;
  }
  return true;
}

/**
 * An HPACK decoder for one direction of one connection: its dynamic table persists from block
 * to block, as the peer's encoder's does.
 */
export class HeaderBlockDecoder {
  /** The peer's dynamic table as its encoder keeps it, within the size this side allows. */
  private readonly table: Table = hpack.table.create({ maxSize: TABLE_SIZE });
  /**
   * The lists of the one-byte-indexed blocks decoded since the table last changed, by their
   * bytes. Why: a gRPC client's repeated call sends the same few bytes each time (grpc-go's
   * :path, content-type, te, user-agent and grpc-timeout all from its dynamic table once sent),
   * and decoding them anew, with the request checks, was 6% of the daemon's main thread in a
   * CPU profile of cold ListImages calls (the most of any one part of Coracle's own code).
   */
  private readonly remembered = new Map<string, readonly HeaderField[]>();

  /**
   * One header block: the list remembered for the same short one-byte-indexed block since the
   * table last changed, or decoded anew. Any other block may change the table (a long one is
   * taken as if it might), and everything remembered is forgotten. The lists are frozen: the
   * same one is handed out again.
   */
  decode(block: Buffer): readonly HeaderField[] {
    if (block.length > MAX_REMEMBERED_BLOCK || !oneByteIndexed(block)) {
      this.remembered.clear();
      return this.decodeFields(block);
    }
    const key = block.toString('latin1');
    let headers = this.remembered.get(key);
    if (headers === undefined) {
      headers = Object.freeze(this.decodeFields(block).map((h) => Object.freeze(h)));
      if (this.remembered.size >= MAX_REMEMBERED) this.remembered.clear();
      this.remembered.set(key, headers);
    }
    return headers;
  }

  /**
   * A header block decoded field by field (RFC 7541 6): hpack.js's stream wrapper is left
   * out, as it defers work to later ticks on every header, and the list is capped as it grows.
   */
  private decodeFields(block: Buffer): HeaderField[] {
    const d = hpack.decoder.create();
    d.push(block);
    const headers: HeaderField[] = [];
    let size = 0;
    try {
      while (!d.isEmpty()) {
        let name: string;
        let value: string;
        if (d.decodeBit()) {
          ({ name, value } = this.table.lookup(d.decodeInt()));
        } else {
          const incremental = d.decodeBit() === 1;
          if (!incremental) {
            if (d.decodeBit()) {
              const size = d.decodeInt();
              if (size > TABLE_SIZE) throw new ProtocolError(`dynamic table size ${size}, over the ${TABLE_SIZE} allowed`, COMPRESSION_ERROR);
              this.table.updateSize(size);
              continue;
            }
            d.decodeBit(); // never indexed: nothing here indexes or passes fields on
          }
          const index = d.decodeInt();
          let nameSize: number;
          if (index === 0) {
            const octets = d.decodeStr();
            nameSize = octets.length;
            name = hpack.utils.stringify(octets);
          } else {
            ({ name, nameSize } = this.table.lookup(index));
          }
          const octets = d.decodeStr();
          value = hpack.utils.stringify(octets);
          if (incremental) this.table.add(name, value, nameSize, octets.length);
        }
        size += name.length + value.length + 32;
        if (size > MAX_HEADER_LIST) throw new ProtocolError(`header list over ${MAX_HEADER_LIST} bytes`);
        headers.push({ name, value });
      }
    } catch (err) {
      throw err instanceof ProtocolError ? err : new ProtocolError(`header block: ${(err as Error).message}`, COMPRESSION_ERROR);
    }
    return headers;
  }}

