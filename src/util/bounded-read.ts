/**
 * Reads that stop at a size: a file named in the config (a certificate, a seccomp profile) and
 * a stream from outside (a registry's reply, a small file of an image archive). Files inside a
 * container or image root are not read here but through util/in-root.ts, which also keeps the
 * walk inside the root.
 */
import { constants, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { CoracleError, messageOf, type ErrorCode } from '../errors.js';

export interface RegularFileLimits {
  /** The most bytes the file may hold. */
  max: number;
  /** What the file is, for errors: "seccomp profile", "remote.cert". */
  what: string;
  /** The gRPC code of the errors (default INVALID_ARGUMENT). */
  code?: ErrorCode;
  /**
   * What the opened file must be besides regular and small (owner, mode), checked on the
   * descriptor that is then read: the problem in words, or undefined when it is fine.
   */
  check?: (st: Stats) => string | undefined;
}

/**
 * A regular file of at most `max` bytes, whole. It is opened non-blocking, so that a FIFO in
 * the file's place fails the regular-file check instead of holding a libuv thread forever, and
 * never more than max + 1 bytes are read (a file growing while it is read). Symbolic links are
 * followed: the paths read here are given by root, in the config or by kubelet. Every failure
 * is a CoracleError naming `what` and the path, with the system error as its cause.
 */
export async function readRegularFile(path: string, limits: RegularFileLimits): Promise<Buffer> {
  const { max, what, code = 'INVALID_ARGUMENT', check } = limits;
  const fail = (why: string, cause?: unknown): CoracleError =>
    new CoracleError(code, `${what} ${path}: ${why}`, cause === undefined ? undefined : { cause });
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw fail(`cannot open: ${messageOf(err)}`, err);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw fail('not a regular file');
    if (st.size > max) throw fail(`${st.size} bytes, more than the ${max} it may have`);
    const problem = check?.(st);
    if (problem !== undefined) throw fail(problem);
    // Read to the end, not to st.size: the file may grow meanwhile. At most max + 1 bytes.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(64 << 10, max + 1 - total));
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > max) throw fail(`more than the ${max} bytes it may have`);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total);
  } catch (err) {
    if (err instanceof CoracleError) throw err;
    throw fail(`cannot read: ${messageOf(err)}`, err);
  } finally {
    await fh.close();
  }
}

/**
 * A stream read whole, up to `max` bytes. Past that it throws `tooLarge()`; leaving the
 * for-await loop returns the stream's iterator, which destroys a Node stream (an HTTP body)
 * and finishes a generator (a tar entry), so the rest is never buffered.
 */
export async function readStreamCapped(
  stream: AsyncIterable<Uint8Array>,
  max: number,
  tooLarge: () => Error,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > max) throw tooLarge();
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  }
  return Buffer.concat(chunks, total);
}
