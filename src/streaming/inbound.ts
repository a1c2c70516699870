/**
 * What a streaming connection received for one reader (a SPDY stream, a websocket channel)
 * and the reader has not taken yet, counted as the memory it really holds.
 *
 * Counting `length` alone is not enough: a piece the framer hands out is a view into the
 * socket read it came in (up to 64 KiB), and a Buffer object costs a few hundred bytes of its
 * own whatever its length. A client that sends one byte per socket read, padded with frames
 * for nobody, would make a cap of N bytes hold N socket reads, or N Buffer objects. So pieces
 * are copied out of the read they came in, small ones into one shared buffer, and each piece
 * is charged its bytes plus PIECE_OVERHEAD. Node's Readable cannot do this (it keeps every
 * pushed chunk as it is and counts only bytes), hence this queue of our own.
 */

/** What one buffered piece is charged beyond its bytes: the Buffer object and its entry (a high estimate). */
export const PIECE_OVERHEAD = 256;
/** Pieces shorter than this are copied together into a TAIL_BYTES buffer while they wait. */
const SMALL_PIECE = 1 << 10;
const TAIL_BYTES = 4 << 10;

interface Piece {
  data: Buffer;
  cost: number;
}

export class InboundQueue {
  private readonly pieces: Piece[] = [];
  private tail: Buffer | undefined;
  private tailFill = 0;
  private charged = 0;

  /** `account` hears every change of what the queue holds (positive when it grows). */
  constructor(private readonly account: (delta: number) => void) {}

  /** The memory the queue holds, as charged. */
  get cost(): number {
    return this.charged;
  }

  append(data: Buffer): void {
    if (data.length === 0) return;
    if (data.length >= SMALL_PIECE) {
      this.seal();
      // A view into a larger buffer is copied, so that the rest of that buffer can go.
      const own = data.byteLength === data.buffer.byteLength ? data : Buffer.from(data);
      this.pieces.push({ data: own, cost: own.length + PIECE_OVERHEAD });
      this.charge(own.length + PIECE_OVERHEAD);
      return;
    }
    if (this.tail && this.tailFill + data.length > this.tail.length) this.seal();
    if (!this.tail) {
      this.tail = Buffer.allocUnsafeSlow(TAIL_BYTES);
      this.tailFill = 0;
      this.charge(TAIL_BYTES + PIECE_OVERHEAD);
    }
    data.copy(this.tail, this.tailFill);
    this.tailFill += data.length;
  }

  /** The oldest piece, or undefined when empty. */
  take(): Buffer | undefined {
    if (this.pieces.length === 0) this.seal();
    const p = this.pieces.shift();
    if (!p) return undefined;
    this.charge(-p.cost);
    return p.data;
  }

  clear(): void {
    this.pieces.length = 0;
    this.tail = undefined;
    this.tailFill = 0;
    this.charge(-this.charged);
  }

  /** Closes the shared buffer: what it holds becomes a piece of its own, copied to its size. */
  private seal(): void {
    const tail = this.tail;
    if (!tail) return;
    this.tail = undefined;
    this.charge(-(TAIL_BYTES + PIECE_OVERHEAD));
    const data = this.tailFill === tail.length ? tail : Buffer.from(tail.subarray(0, this.tailFill));
    this.pieces.push({ data, cost: data.length + PIECE_OVERHEAD });
    this.charge(data.length + PIECE_OVERHEAD);
  }

  private charge(delta: number): void {
    if (delta === 0) return;
    this.charged += delta;
    this.account(delta);
  }
}

/**
 * Feeds a Readable from an InboundQueue: the Readable is made with a highWaterMark of 0, so
 * that it holds nothing of its own and asks (`_read` → `want()`) only when its consumer reads;
 * then it gets one piece. A piece that arrives while the consumer waits is handed over at the
 * next turn of the event loop, so pieces that come in one turn go as one.
 */
export class Inbound {
  readonly queue: InboundQueue;
  private wanting = false;
  private ending = false;
  private ended = false;
  private scheduled = false;

  constructor(
    private readonly push: (chunk: Buffer | null) => boolean,
    account: (delta: number) => void,
  ) {
    this.queue = new InboundQueue(account);
  }

  get cost(): number {
    return this.queue.cost;
  }

  /** The Readable's `_read`. */
  want(): void {
    this.wanting = true;
    this.deliver();
  }

  feed(data: Buffer): void {
    if (this.ending) return;
    this.queue.append(data);
    this.schedule();
  }

  /** No more data: the reader sees its end after what is queued. */
  end(): void {
    if (this.ending) return;
    this.ending = true;
    this.schedule();
  }

  /** Drops what is queued (charging it back) and ends. */
  drop(): void {
    this.queue.clear();
    this.end();
  }

  private schedule(): void {
    if (!this.wanting || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.deliver();
    });
  }

  private deliver(): void {
    if (!this.wanting || this.ended) return;
    const piece = this.queue.take();
    if (piece) {
      this.wanting = false;
      this.push(piece);
    } else if (this.ending) {
      this.wanting = false;
      this.ended = true;
      this.push(null);
    }
  }
}
