import type { FileHandle } from 'node:fs/promises';

/** Bytes gathered before one writev: a blob arrives in chunks of a few KiB to 64 KiB. */
const BATCH_BYTES = 1 << 20;
/** Linux's IOV_MAX is 1024: a batch of many tiny chunks is written before it gets there. */
const BATCH_CHUNKS = 512;

/**
 * Appends a stream of chunks to a file in writes of about 1 MiB, one write in flight while the
 * next batch gathers. A download wrote each network chunk with its own awaited write (a
 * thread-pool round trip, a promise and a syscall per chunk, about 3000 for 200 MB), and read
 * nothing from the socket meanwhile. Memory stays bounded: the batch in flight and the one
 * gathering, each at most BATCH_BYTES plus one chunk.
 *
 * Node's streams (createWriteStream) would batch too, but through cork/uncork and their own
 * buffering, which does not tell the caller when its bytes are written or make it wait: here
 * add() waits exactly when the write before is still running and the next batch is full.
 */
export class BatchedWriter {
  private batch: Buffer[] = [];
  private batched = 0;
  private inFlight: Promise<void> = Promise.resolve();
  /** The first failed write; later adds and end() throw it. */
  private failure: { err: unknown } | undefined;

  constructor(private readonly fh: FileHandle) {}

  /** Takes `chunk` (not copied: the caller must not change it); waits only for a full batch. */
  async add(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure.err;
    if (chunk.length === 0) return;
    this.batch.push(chunk);
    this.batched += chunk.length;
    if (this.batched >= BATCH_BYTES || this.batch.length >= BATCH_CHUNKS) await this.flush();
  }

  /** Writes what is gathered, after the write in flight. */
  private async flush(): Promise<void> {
    await this.inFlight;
    if (this.failure) throw this.failure.err;
    const chunks = this.batch;
    const bytes = this.batched;
    this.batch = [];
    this.batched = 0;
    // Never rejects: a failure is kept and thrown to the next caller, so that a write failing
    // while the source is being read is not an unhandled rejection.
    this.inFlight = writeAll(this.fh, chunks, bytes).catch((err: unknown) => {
      this.failure ??= { err };
    });
  }

  /** Writes the rest and waits for every write; throws the first write's failure. */
  async end(): Promise<void> {
    if (this.batched > 0) await this.flush();
    await this.inFlight;
    if (this.failure) throw this.failure.err;
  }

  /** Waits for the write in flight, whatever happened: before the file is closed after a failure. */
  async settled(): Promise<void> {
    await this.inFlight;
  }
}

/** writev of `chunks`, then plain writes for whatever a short write left. */
async function writeAll(fh: FileHandle, chunks: Buffer[], bytes: number): Promise<void> {
  const { bytesWritten } = await fh.writev(chunks);
  if (bytesWritten === bytes) return;
  const rest = Buffer.concat(chunks, bytes);
  for (let off = bytesWritten; off < bytes; ) off += (await fh.write(rest, off, bytes - off)).bytesWritten;
}
