/**
 * Exact byte counts out of a chunked source (an async iterator of Buffers: a file's or a
 * download's reads), for the readers of formats that come from outside: the tar reader's
 * headers and entries, the gzip reader's header and trailer. Bodies are handed on as they
 * came, without copying them; only a piece that spans chunks is joined.
 *
 * Written here, not taken from npm: the readers that do this (tar-stream's, the stream
 * libraries' "readers") are tied to one format's errors or to Node's stream objects, where
 * these readers pull from an async iterator and close it when they stop.
 */

const EMPTY = Buffer.alloc(0);

export class ChunkReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  /** Bytes handed out so far (read, streamed, skipped, or taken as chunks and not given back). */
  private taken = 0;

  /**
   * @param truncated the format's error for data that ends too soon, told where (what the
   *   caller said it was reading), if the caller said.
   */
  constructor(
    private readonly source: AsyncIterator<Buffer>,
    private readonly truncated: (where: string | undefined) => Error,
  ) {}

  /** The next bytes as they came (what was given back or left of a chunk first); undefined at the source's end. */
  async chunk(): Promise<Buffer | undefined> {
    if (this.buffered === 0) await this.fill(1);
    const c = this.chunks.shift();
    if (c) {
      this.buffered -= c.length;
      this.taken += c.length;
    }
    return c;
  }

  /** Gives back `bytes`, read again before anything else. */
  unread(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.chunks.unshift(bytes);
    this.buffered += bytes.length;
    this.taken -= bytes.length;
  }

  /** How many bytes have been handed out so far, less those given back. */
  get position(): number {
    return this.taken;
  }

  /**
   * Exactly `n` bytes if they are at hand now, without waiting; else undefined, nothing
   * taken. The readers of many small pieces (a tar's headers, its small files) then go on
   * without an await each: a layer of thousands of small files spent more on promises than
   * on its headers.
   */
  takeBuffered(n: number): Buffer | undefined {
    if (n === 0) return EMPTY;
    return n <= this.buffered ? this.take(n) : undefined;
  }

  /** Passes over `n` bytes if they are at hand now, and says whether it did (else nothing is passed). */
  skipBuffered(n: number): boolean {
    if (n > this.buffered) return false;
    this.drop(n);
    return true;
  }

  /** Everything left, as it comes. */
  async *rest(): AsyncGenerator<Buffer> {
    for (let c = await this.chunk(); c; c = await this.chunk()) yield c;
  }

  /** Exactly `n` bytes, or undefined at a clean end (nothing left); an end inside them is `truncated`. */
  async read(n: number, where?: string): Promise<Buffer | undefined> {
    await this.fill(n);
    if (this.buffered === 0) return n === 0 ? EMPTY : undefined;
    if (this.buffered < n) throw this.truncated(where);
    return this.take(n);
  }

  /** Exactly `n` bytes: the data's end anywhere before them is `truncated`. */
  async exactly(n: number, where?: string): Promise<Buffer> {
    const b = await this.read(n, where);
    if (!b) throw this.truncated(where);
    return b;
  }

  /** `n` bytes as the chunks they came in; the caller takes all of them before reading on. */
  async *stream(n: number, where?: string): AsyncGenerator<Buffer> {
    for (let left = n; left > 0; ) {
      if (this.buffered === 0) await this.fill(1);
      if (this.buffered === 0) throw this.truncated(where);
      const part = Math.min(left, this.chunks[0]!.length);
      left -= part;
      yield this.take(part);
    }
  }

  /** Passes over `n` bytes without keeping them. */
  async skip(n: number, where?: string): Promise<void> {
    for (let left = n; left > 0; ) {
      if (this.buffered === 0) await this.fill(1);
      if (this.buffered === 0) throw this.truncated(where);
      const part = Math.min(left, this.buffered);
      this.drop(part);
      left -= part;
    }
  }

  /** Passes over the bytes up to and including the next `byte` (a C string's end). */
  async skipPast(byte: number, where?: string): Promise<void> {
    for (;;) {
      const c = await this.chunk();
      if (!c) throw this.truncated(where);
      const at = c.indexOf(byte);
      if (at >= 0) return this.unread(c.subarray(at + 1));
    }
  }

  /** Lets go of the source early (a bad entry, a consumer that stopped): it closes its file. */
  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.source.return?.();
  }

  /** Reads everything left, so that a hash over the source covers all of it. */
  async drain(): Promise<void> {
    this.taken += this.buffered;
    this.chunks = [];
    this.buffered = 0;
    while (!this.ended) {
      const next = await this.source.next();
      if (next.done) this.ended = true;
    }
  }

  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.ended) {
      const next = await this.source.next();
      if (next.done) this.ended = true;
      else if (next.value.length > 0) {
        this.chunks.push(next.value);
        this.buffered += next.value.length;
      }
    }
  }

  /** Passes over `n` buffered bytes (no more than there are). */
  private drop(n: number): void {
    this.buffered -= n;
    this.taken += n;
    for (let left = n; left > 0; ) {
      const first = this.chunks[0]!;
      if (first.length > left) {
        this.chunks[0] = first.subarray(left);
        return;
      }
      this.chunks.shift();
      left -= first.length;
    }
  }

  private take(n: number): Buffer {
    this.taken += n;
    const first = this.chunks[0]!;
    if (first.length === n) {
      this.chunks.shift();
      this.buffered -= n;
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    for (let off = 0; off < n; ) {
      const c = this.chunks[0]!;
      const part = Math.min(c.length, n - off);
      out.set(part === c.length ? c : c.subarray(0, part), off);
      off += part;
      if (part === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(part);
    }
    this.buffered -= n;
    return out;
  }
}
