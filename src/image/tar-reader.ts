/**
 * A streaming tar reader. tar-stream decodes pax records as UTF-8 text, which corrupts
 * binary xattrs such as security.capability; image layers need them byte for byte, so the
 * format (ustar, GNU long names, pax) is read here. Sparse and multi-volume entries, which
 * image builders do not produce, are refused rather than misread.
 */
import { ChunkReader } from '../util/chunk-reader.js';

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarHeader {
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch; pax may give a fraction. */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** From pax SCHILY.xattr.* (raw bytes) and LIBARCHIVE.xattr.* (base64). */
  xattrs: Map<string, Buffer>;
}

export interface TarEntry {
  header: TarHeader;
  /** The entry's data; must be read to the end (or left: the reader skips what is left). */
  body: AsyncIterable<Buffer>;
  /**
   * The whole data, when it was at hand as the header was read (most small files' is): the
   * bytes `body` yields, for a consumer that writes them without awaiting anything. Either
   * may be read; the reader has taken them already.
   */
  data?: Buffer;
}

const BLOCK = 512;
/** The most a pax header or GNU long name may hold, as Go's archive/tar allows. */
const MAX_EXTENDED_HEADER = 1 << 20;
const EXTENDED: Record<string, string> = { x: 'pax header', g: 'global pax header', L: 'GNU long name', K: 'GNU long link name' };

export class TarFormatError extends Error {}

function cstring(buf: Buffer, start: number, len: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end >= 0 && end < start + len ? end : start + len);
}

function numeric(buf: Buffer, start: number, len: number): number {
  // GNU base-256 for values that do not fit in octal.
  if (buf[start]! & 0x80) {
    let v = buf[start]! & 0x3f;
    if (buf[start]! & 0x40) throw new TarFormatError('negative base-256 number');
    for (let i = start + 1; i < start + len; i++) v = v * 256 + buf[i]!;
    return v;
  }
  // Octal digits, with NULs or spaces before and after them. Read byte by byte: six fields of
  // every header, and a layer of many small entries (a busybox layer's 400 links) spent more
  // on strings and regular expressions here than on the entries' system calls.
  let from = start;
  let to = start + len;
  while (from < to && (buf[from] === 0 || buf[from] === 0x20)) from++;
  while (to > from && (buf[to - 1] === 0 || buf[to - 1] === 0x20)) to--;
  let v = 0;
  for (let i = from; i < to; i++) {
    const digit = buf[i]! - 0x30;
    if (digit < 0 || digit > 7) throw new TarFormatError(`bad octal field "${buf.toString('ascii', from, to)}"`);
    v = v * 8 + digit;
  }
  return v;
}

function checksumOk(block: Buffer): boolean {
  const stored = numeric(block, 148, 8);
  // The checksum field counts as 8 spaces.
  let unsigned = 8 * 0x20;
  for (let i = 0; i < 148; i++) unsigned += block[i]!;
  for (let i = 156; i < BLOCK; i++) unsigned += block[i]!;
  return stored === unsigned;
}

/** The end-of-archive marker's blocks. */
const ZERO_BLOCK = Buffer.alloc(BLOCK);
/** The body of an entry that has no data: no generator made for it. */
const NO_DATA: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ done: true, value: undefined }) }) };
const NO_EXTENDED = new Map<string, Buffer>();

/** A body already read whole: `data`, once. A class: one made per small file, and an object literal with a symbol key is made the slow way. */
class WholeBody implements AsyncIterable<Buffer> {
  constructor(private readonly data: Buffer) {}

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    let given = false;
    const data = this.data;
    return { next: () => Promise.resolve(given ? { done: true, value: undefined } : ((given = true), { done: false, value: data })) };
  }
}

/** "ustar" at 257: the ustar format, whose header has a name prefix at 345. */
const isUstar = (b: Buffer): boolean => b[257] === 0x75 && b[258] === 0x73 && b[259] === 0x74 && b[260] === 0x61 && b[261] === 0x72;

const pad = (n: number): number => (BLOCK - (n % BLOCK)) % BLOCK;

/** pax records: "<len> <key>=<value>\n", value as raw bytes. */
function parsePax(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < buf.length) {
    const space = buf.indexOf(0x20, off);
    if (space < 0) break;
    const len = parseInt(buf.toString('ascii', off, space), 10);
    if (!(len > 0) || off + len > buf.length) throw new TarFormatError('bad pax record');
    const record = buf.subarray(space + 1, off + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq < 0) throw new TarFormatError('bad pax record');
    out.set(record.toString('utf8', 0, eq), record.subarray(eq + 1));
    off += len;
  }
  return out;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  D: 'dir',
  '6': 'fifo',
};

/** Yields the entries of a tar stream in order. */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const reader = new ChunkReader(source[Symbol.asyncIterator](), (where) => new TarFormatError(where ? `unexpected end of archive in ${where}` : 'unexpected end of archive'));
  try {
    yield* entries(reader);
  } finally {
    await reader.close();
  }
}

async function* entries(reader: ChunkReader): AsyncGenerator<TarEntry> {
  let global = new Map<string, Buffer>();
  let pax: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    // Most headers are at hand in the chunk the last entry came in: taken without an await.
    const block = reader.takeBuffered(BLOCK) ?? (await reader.read(BLOCK));
    if (!block) break;
    if (block.equals(ZERO_BLOCK)) break;
    if (!checksumOk(block)) throw new TarFormatError('header checksum mismatch');
    const flag = String.fromCharCode(block[156]!);
    const size = numeric(block, 124, 12);
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_EXTENDED_HEADER) throw new TarFormatError(`${EXTENDED[flag]} of ${size} bytes: more than the ${MAX_EXTENDED_HEADER} allowed`);
      // Its data must follow: an archive that ends here is cut short, not over.
      const body = (await reader.exactly(size + pad(size))).subarray(0, size);
      if (flag === 'x') pax = parsePax(body);
      else if (flag === 'g') {
        global = new Map([...global, ...parsePax(body)]);
        // Global records add up across headers: capped as a whole.
        let total = 0;
        for (const [k, v] of global) total += k.length + v.length;
        if (total > MAX_EXTENDED_HEADER) throw new TarFormatError(`global pax headers of ${total} bytes in all: more than the ${MAX_EXTENDED_HEADER} allowed`);
      }
      else if (flag === 'L') longName = cstring(body, 0, body.length);
      else longLink = cstring(body, 0, body.length);
      continue;
    }
    const type = TYPES[flag];
    if (!type) {
      throw new TarFormatError(`unsupported tar entry type "${flag}" (${cstring(block, 0, 100)})`);
    }
    const ext = global.size === 0 && !pax ? NO_EXTENDED : new Map([...global, ...(pax ?? [])]);
    const prefix = isUstar(block) && block[345] !== 0 ? cstring(block, 345, 155) : '';
    let name = longName ?? (prefix ? `${prefix}/${cstring(block, 0, 100)}` : cstring(block, 0, 100));
    let linkname = longLink ?? (block[157] === 0 ? '' : cstring(block, 157, 100));
    let entrySize = size;
    let uid = numeric(block, 108, 8);
    let gid = numeric(block, 116, 8);
    let mtime = numeric(block, 136, 12);
    const xattrs = new Map<string, Buffer>();
    for (const [key, value] of ext) {
      const text = (): string => value.toString('utf8');
      if (key === 'path') name = text();
      else if (key === 'linkpath') linkname = text();
      else if (key === 'size') entrySize = Number(text());
      else if (key === 'uid') uid = Number(text());
      else if (key === 'gid') gid = Number(text());
      else if (key === 'mtime') mtime = Number(text());
      else if (key.startsWith('SCHILY.xattr.')) xattrs.set(key.slice('SCHILY.xattr.'.length), value);
      else if (key.startsWith('LIBARCHIVE.xattr.')) {
        xattrs.set(decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(text(), 'base64'));
      } else if (key.startsWith('GNU.sparse.')) throw new TarFormatError('sparse entries are not supported');
    }
    if (!Number.isSafeInteger(entrySize) || entrySize < 0) throw new TarFormatError(`entry "${name}": bad size`);
    pax = undefined;
    longName = undefined;
    longLink = undefined;
    // Only regular files carry data; a size on anything else is skipped as padding.
    const dataSize = type === 'file' ? entrySize : 0;
    const header: TarHeader = {
      name,
      type,
      mode: numeric(block, 100, 8),
      uid,
      gid,
      size: dataSize,
      mtime,
      linkname,
      devmajor: type === 'char' || type === 'block' ? numeric(block, 329, 8) : 0,
      devminor: type === 'char' || type === 'block' ? numeric(block, 337, 8) : 0,
      xattrs,
    };
    const end = reader.position + entrySize + pad(entrySize);
    const data = dataSize === 0 ? undefined : reader.takeBuffered(dataSize);
    yield { header, body: dataSize === 0 ? NO_DATA : data ? new WholeBody(data) : reader.stream(dataSize, 'an entry'), ...(data && { data }) };
    // Whatever the consumer left of the body, then the padding.
    const left = end - reader.position;
    if (left > 0 && !reader.skipBuffered(left)) await reader.skip(left, 'an entry');
  }
  await reader.drain();
}
