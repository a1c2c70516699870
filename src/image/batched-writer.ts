import type { FileHandle } from 'node:fs/promises';
import { isErrno } from '../errors.js';
import { DIRECT_IO_ALIGN, alignedBuffer } from '../util/direct-io.js';

/** Bytes gathered before one write: a blob arrives in chunks of a few KiB to 64 KiB. */
const BATCH_BYTES = 1 << 20;

/**
 * Appends a stream of chunks to a file in writes of 1 MiB, one write in flight while the next
 * batch gathers. A download wrote each network chunk with its own awaited write (a thread-pool
 * round trip, a promise and a syscall per chunk, about 3000 for 200 MB), and read nothing
 * from the socket meanwhile.
 *
 * Each chunk is copied into one of two buffers of BATCH_BYTES (a memcpy, a few ms per 100 MB)
 * rather than kept until its batch is written: memory is the two buffers whatever the source
 * hands over (an HTTP client's chunks can be views that each keep a whole socket read alive), and the
 * caller may reuse a chunk as soon as add() returns.
 *
 * Node's streams (createWriteStream) would batch too, but keep every chunk until written, and
 * do not make the writer wait for the disk in a way a for-await loop can follow.
 *
 * Given the file open a second time with O_DIRECT, the writer writes each full batch through
 * it (the buffers aligned, every batch at a multiple of BATCH_BYTES), and only the last,
 * partial batch through the page cache (util/direct-io.ts).
 */
export class BatchedWriter {
  /** The buffer gathering, and the other one (made at the first full batch: most blobs are small). */
  private gathering: Buffer;
  private spare: Buffer | undefined;
  private filled = 0;
  private inFlight: Promise<void> = Promise.resolve();
  /** The first failed write; later adds and end() throw it. */
  private failure: { err: unknown } | undefined;

  /** Bytes written to the file so far. */
  private written = 0;

  /**
   * @param onWritten told the bytes in the file after each write, and the batch just written:
   *   the writer's own buffer, which it may take (transfer); the writer then makes another.
   * @param direct the same file opened with O_DIRECT: full batches are written through it,
   *   past the page cache; the last, partial one through `fh`. A file system that refuses a
   *   direct write (EINVAL) has the rest written through `fh`.
   */
  constructor(
    private readonly fh: FileHandle,
    private readonly onWritten?: (total: number, batch: Buffer) => void,
    private direct?: FileHandle,
  ) {
    this.gathering = this.buffer();
  }

  private buffer(): Buffer {
    return this.direct ? alignedBuffer(BATCH_BYTES) : Buffer.allocUnsafeSlow(BATCH_BYTES);
  }

  /** Copies `chunk` in; waits only when a batch is full and the write before it still runs. */
  async add(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure.err;
    for (let off = 0; off < chunk.length; ) {
      const n = chunk.copy(this.gathering, this.filled, off);
      this.filled += n;
      off += n;
      if (this.filled === BATCH_BYTES) await this.flush();
    }
  }

  /** Starts writing what is gathered, after the write in flight; the spare buffer gathers next. */
  private async flush(): Promise<void> {
    await this.inFlight;
    if (this.failure) throw this.failure.err;
    const full = this.gathering.subarray(0, this.filled);
    // A spare that onWritten took (transferred to a worker: its memory is gone) is replaced.
    const next = this.spare && this.spare.buffer.byteLength > 0 ? this.spare : this.buffer();
    this.spare = this.gathering;
    this.gathering = next;
    this.filled = 0;
    // Never rejects: a failure is kept and thrown to the next caller, so that a write failing
    // while the source is being read is not an unhandled rejection.
    this.inFlight = this.write(full, this.written).then(
      () => {
        this.written += full.length;
        this.onWritten?.(this.written, full);
      },
      (err: unknown) => {
        this.failure ??= { err };
      },
    );
  }

  /** Writes the rest and waits for every write; throws the first write's failure. */
  async end(): Promise<void> {
    if (this.filled > 0) await this.flush();
    await this.inFlight;
    if (this.failure) throw this.failure.err;
  }

  /** Waits for the write in flight, whatever happened: before the file is closed after a failure. */
  async settled(): Promise<void> {
    await this.inFlight;
  }

  /** `data` at `position`: directly when both are aligned and the file takes it, else through the page cache. */
  private async write(data: Buffer, position: number): Promise<void> {
    if (this.direct && data.length % DIRECT_IO_ALIGN === 0 && position % DIRECT_IO_ALIGN === 0) {
      try {
        await writeAll(this.direct, data, position);
        return;
      } catch (err) {
        if (!isErrno(err, 'EINVAL')) throw err;
        this.direct = undefined;
      }
    }
    await writeAll(this.fh, data, position);
  }
}

/** All of `data` at `position`, in as many writes as the kernel needs. */
async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let off = 0; off < data.length; ) off += (await fh.write(data, off, data.length - off, position + off)).bytesWritten;
}
