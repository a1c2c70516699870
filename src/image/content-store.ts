import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CoracleError, isErrno } from '../errors.js';
import { openDirectForWriting } from '../util/direct-io.js';
import { BULK_COLLECT_BYTES, YoungCollector } from '../util/young-collector.js';
import { BatchedWriter } from './batched-writer.js';
import type { BlobFeed } from './blob-feed.js';
import { digestHex, sha256Digest } from './digest.js';

/**
 * Blobs by digest, as containerd's content store keeps them. A blob is written to an ingest
 * file and renamed into place only once its size and sha256 match, so a blob in the store is
 * always whole and right; a failed or wrong download leaves nothing behind.
 */
export interface ContentStore {
  path(digest: string): string;
  size(digest: string): Promise<number | undefined>;
  /** The whole blob; with `limit`, one larger than that is refused without being read. */
  read(digest: string, limit?: number): Promise<Buffer>;
  /** Stores `data` under `digest` after checking it. */
  put(digest: string, data: Buffer): Promise<void>;
  /**
   * Downloads a blob unless it is there already. Concurrent calls for one digest share one
   * download. `open` gives the bytes; it is called once per attempt. `feed`, if given, is
   * opened on the ingest file when this call downloads, and told its progress (blob-feed.ts).
   */
  ingest(digest: string, size: number | undefined, open: () => Promise<AsyncIterable<Buffer> | Iterable<Buffer>>, feed?: BlobFeed): Promise<void>;
  /** Stores bytes whose digest is not known beforehand; returns it. */
  ingestUnknown(source: AsyncIterable<Buffer>): Promise<{ digest: string; size: number }>;
  remove(digest: string): Promise<void>;
  list(): Promise<string[]>;
}

export class FileContentStore implements ContentStore {
  private readonly blobs: string;
  private readonly ingestDir: string;
  private readonly inflight = new Map<string, Promise<void>>();
  /** Each socket or archive read is a Buffer of its own, dead once hashed and copied: one count for all blobs written. */
  private readonly young = new YoungCollector(BULK_COLLECT_BYTES);

  constructor(root: string) {
    this.blobs = join(root, 'blobs', 'sha256');
    this.ingestDir = join(root, 'ingest');
  }

  async init(): Promise<void> {
    await mkdir(this.blobs, { recursive: true });
    // Ingests of a daemon that died are incomplete by definition.
    await rm(this.ingestDir, { recursive: true, force: true });
    await mkdir(this.ingestDir, { recursive: true });
  }

  path(digest: string): string {
    return join(this.blobs, digestHex(digest));
  }

  async size(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.path(digest))).size;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async read(digest: string, limit?: number): Promise<Buffer> {
    let fh;
    try {
      fh = await open(this.path(digest), 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new CoracleError('NOT_FOUND', `blob ${digest}: not in the content store`);
      throw err;
    }
    try {
      const { size } = await fh.stat();
      if (limit !== undefined && size > limit) {
        throw new CoracleError('FAILED_PRECONDITION', `blob ${digest}: ${size} bytes, more than the ${limit} allowed`);
      }
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  }

  async put(digest: string, data: Buffer): Promise<void> {
    const actual = sha256Digest(data);
    if (actual !== digest) {
      throw new CoracleError('DATA_LOSS', `blob ${digest}: content has digest ${actual}`);
    }
    await this.ingest(digest, data.length, async () => [data]);
  }

  ingest(digest: string, size: number | undefined, openSource: () => Promise<AsyncIterable<Buffer> | Iterable<Buffer>>, feed?: BlobFeed): Promise<void> {
    const existing = this.inflight.get(digest);
    if (existing) return existing;
    const p = this.download(digest, size, openSource, feed).finally(() => this.inflight.delete(digest));
    this.inflight.set(digest, p);
    return p;
  }

  private async download(digest: string, size: number | undefined, openSource: () => Promise<AsyncIterable<Buffer> | Iterable<Buffer>>, feed?: BlobFeed): Promise<void> {
    const final = this.path(digest);
    if ((await this.size(digest)) !== undefined) return;
    const tmp = join(this.ingestDir, `${digestHex(digest)}-${randomBytes(4).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o644);
    let ok = false;
    try {
      feed?.open(tmp);
      const check = (written: number): void => {
        if (size !== undefined && written > size) throw new CoracleError('DATA_LOSS', `blob ${digest}: more than the ${size} bytes expected`);
      };
      const got = await this.write(fh, tmp, await openSource(), check, feed ? (n, batch) => feed.wrote(n, batch) : undefined);
      if (size !== undefined && got.size !== size) {
        throw new CoracleError('DATA_LOSS', `blob ${digest}: got ${got.size} bytes, expected ${size}`);
      }
      if (got.digest !== digest) {
        throw new CoracleError('DATA_LOSS', `blob ${digest}: downloaded content has digest ${got.digest}`);
      }
      // An unpack that follows the download may finish now, while the blob is synced.
      feed?.verified();
      // Kept: the blob is on disk before its name is, so that after a power loss a blob under
      // its digest is whole (image records, fsynced after it, name it).
      await fh.sync();
      ok = true;
    } finally {
      if (!ok) feed?.failed();
      await fh.close();
      if (!ok) await rm(tmp, { force: true });
    }
    await rename(tmp, final);
  }

  async ingestUnknown(source: AsyncIterable<Buffer>): Promise<{ digest: string; size: number }> {
    const tmp = join(this.ingestDir, `unknown-${randomBytes(8).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o644);
    let digest: string;
    let size: number;
    try {
      ({ digest, size } = await this.write(fh, tmp, source));
      // Kept, as in download(): a blob under its digest is whole after a power loss.
      await fh.sync();
    } catch (err) {
      await fh.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await fh.close();
    if ((await this.size(digest)) !== undefined) await rm(tmp, { force: true });
    else await rename(tmp, this.path(digest));
    return { digest, size };
  }

  /**
   * `source` into the ingest file `tmp`, open as `fh`, in batches (batched-writer.ts) whose
   * full MiBs go past the page cache where the file system allows (util/direct-io.ts): a blob
   * is read once, by the unpack that follows it, and seldom after. Every byte is counted and
   * hashed as it arrives; `check` is given the count before each chunk is written, and may
   * throw. Returns the digest and size of what was written.
   */
  private async write(
    fh: FileHandle,
    tmp: string,
    source: AsyncIterable<Buffer> | Iterable<Buffer>,
    check?: (size: number) => void,
    onWritten?: (total: number, batch: Buffer) => void,
  ): Promise<{ digest: string; size: number }> {
    const hash = createHash('sha256');
    let size = 0;
    const direct = await openDirectForWriting(tmp);
    const out = new BatchedWriter(fh, onWritten, direct);
    try {
      for await (const chunk of source) {
        size += chunk.length;
        check?.(size);
        hash.update(chunk);
        await out.add(chunk);
        this.young.add(chunk.length);
      }
      await out.end();
    } finally {
      await out.settled();
      await direct?.close();
    }
    return { digest: `sha256:${hash.digest('hex')}`, size };
  }

  async remove(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  async list(): Promise<string[]> {
    return (await readdir(this.blobs)).filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }
}

