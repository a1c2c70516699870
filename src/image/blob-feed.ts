import { closeSync } from 'node:fs';
import { openForDirectReading } from '../util/direct-io.js';

/**
 * A layer blob being downloaded, as its unpack follows it: the content store writes the blob
 * to an ingest file and tells the feed how much of it is on disk, then whether its size and
 * digest matched; the unpack worker reads the file up to there, so that a layer is unpacked
 * while it downloads instead of after (and after the blob's fsync).
 *
 * The bytes the unpack reads are not yet verified. That changes nothing the unpacker trusts:
 * it already takes every layer as hostile, and it writes into a staging directory that becomes
 * a snapshot only once the blob's digest matched (`verified`) and its own diff ID did. A feed
 * that `failed` (a broken connection, a wrong digest) ends the unpack, and its staging
 * directory goes; the pull then unpacks from the blob it downloaded again, or fails.
 *
 * Each write's bytes are told with it. The unpack pool hands them to the worker following the
 * download (transferred, not copied) while that unpack has read to within HANDED_AHEAD_MAX of
 * them: it then reads nothing back from the disk. One further behind reads the file.
 */

/**
 * The most bytes a worker may be handed beyond where its unpack has read: the memory a
 * followed download may hold in a worker, whatever the layer's size.
 */
export const HANDED_AHEAD_MAX = 8 << 20;

/** A listener of a feed: its new state, and the bytes of the write that ends at `s.written`. */
export type FeedListener = (s: FeedState, bytes?: Buffer) => void;

/** How far a followed blob is: the bytes on disk, and how its download ended, once it has. */
export interface FeedState {
  written: number;
  end?: 'verified' | 'failed';
}

export class BlobFeed {
  private current: FeedState = { written: 0 };
  private fd: number | undefined;
  private readonly listeners = new Set<FeedListener>();
  private onOpen!: (fd: number) => void;
  /**
   * An fd open for reading on the ingest file, once the download has made it, with O_DIRECT
   * where the file system has it (blob-chunks.ts reads it past the page cache). Worker threads
   * share the process's fds: the worker reads by this fd, which the file's rename into the
   * store (or its removal after a failure) does not disturb. A feed whose digest is already
   * being downloaded for another caller, or is in the store, never opens.
   */
  readonly opened: Promise<number>;

  constructor() {
    this.opened = new Promise((resolve) => (this.onOpen = resolve));
  }

  get state(): FeedState {
    return this.current;
  }

  /**
   * The content store's: the ingest file exists, empty. Only the first call counts. A file
   * that cannot be opened (no fd left) fails the feed, not the download: the layer is then
   * unpacked from the store once it is in.
   */
  open(path: string): void {
    if (this.fd !== undefined || this.current.end) return;
    try {
      this.fd = openForDirectReading(path);
    } catch {
      this.failed();
      return;
    }
    this.onOpen(this.fd);
  }

  /**
   * The content store's: `total` bytes of the blob are on disk, the last of them `bytes`: the
   * writer's own buffer (its ArrayBuffer holds nothing else), which a listener may take by
   * transferring it to a worker; the writer then gathers into another.
   */
  wrote(total: number, bytes?: Buffer): void {
    if (!this.current.end) this.tell({ written: total }, bytes);
  }

  /** The content store's: every byte is written, and the size and digest matched. */
  verified(): void {
    if (!this.current.end) this.tell({ written: this.current.written, end: 'verified' });
  }

  /** The content store's: this download failed; nothing more will be written. */
  failed(): void {
    if (!this.current.end) this.tell({ written: this.current.written, end: 'failed' });
  }

  /** Calls `listener` with every change from now on; returns how to stop. */
  subscribe(listener: FeedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Closes the fd: once the unpack that followed the feed has ended, whatever happened. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.failed();
    this.listeners.clear();
  }

  private tell(s: FeedState, bytes?: Buffer): void {
    this.current = s;
    for (const l of this.listeners) l(s, bytes);
  }
}
