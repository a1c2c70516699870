import { Worker } from 'node:worker_threads';
import { CoracleError, codeForErrno, type ErrorCode } from '../errors.js';
import { mallocTrim } from '../util/malloc-trim.js';
import { HANDED_AHEAD_MAX, type BlobFeed } from './blob-feed.js';
import type { UnpackRequest, UnpackResult } from './unpack.js';
import type { UnpackMessage } from './unpack-worker.js';

interface Job {
  id: number;
  request: UnpackRequest;
  /** The download the unpack follows; its changes are posted to the worker while it runs. */
  feed: BlobFeed | undefined;
  resolve(r: UnpackResult): void;
  reject(e: Error): void;
  /** Stops posting the feed's changes. */
  unsubscribe?: () => void;
}

const closedError = (): CoracleError => new CoracleError('UNAVAILABLE', 'unpack pool closed');

/** How long a worker may stay idle before it is ended, by default. */
const IDLE_WORKER_MS = 10_000;

/** An unpack's failure as the worker sends it across the thread boundary. */
interface WorkerError {
  message: string;
  code?: string;
  coracle?: boolean;
}

/**
 * The worker's failure with the code it carried: a CoracleError's own (a layer refused for
 * what it holds), an errno's (ENOSPC is RESOURCE_EXHAUSTED; another system error is the
 * node's fault, INTERNAL), and FAILED_PRECONDITION for a layer that could not be read as one
 * (a bad tar or compressed stream).
 */
export function unpackError(e: WorkerError): CoracleError {
  // A name the kernel cannot take comes from the layer, not from the client's request.
  const errnoCode = (errno: string): ErrorCode => (errno === 'ENAMETOOLONG' ? 'FAILED_PRECONDITION' : (codeForErrno(errno) ?? 'INTERNAL'));
  const code: ErrorCode = e.coracle && e.code ? (e.code as ErrorCode) : e.code && /^E[A-Z]+$/.test(e.code) ? errnoCode(e.code) : 'FAILED_PRECONDITION';
  return new CoracleError(code, e.message, { cause: Object.assign(new Error(e.message), e.code ? { code: e.code } : {}) });
}

/**
 * A small pool of worker threads for layer unpacks, so that gunzip, hashing and thousands
 * of file syscalls never stall the gRPC loop. Workers start on first use and are unref'd
 * while idle, so an idle pool does not keep the process alive. A worker is a V8 isolate of
 * its own (about 10 MiB resident): one idle for IDLE_WORKER_MS is ended, and the next unpack
 * starts another (tens of ms, against a pull's seconds).
 */
export class UnpackPool {
  private readonly idle: Worker[] = [];
  private readonly idleTimers = new Map<Worker, NodeJS.Timeout>();
  private readonly busy = new Map<Worker, Job>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;

  /** @param idleMs how long a worker may stay idle before it is ended. */
  constructor(
    private readonly size: number,
    private readonly idleMs = IDLE_WORKER_MS,
  ) {}

  /** The workers alive, idle or busy. */
  get workers(): number {
    return this.idle.length + this.busy.size;
  }

  /** Unpacks `request`; with `feed`, the blob at `request.fd` as its download goes. */
  unpack(request: UnpackRequest, feed?: BlobFeed): Promise<UnpackResult> {
    if (this.closed) return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, request, feed, resolve, reject });
      this.pump();
    });
  }

  private spawn(): Worker {
    // The unpacker opens most of its fds through koffi (openat, openat2), which Node does not
    // see: with unmanaged-fd tracking on, every close of one emitted a process warning ("closed
    // but not opened in unmanaged mode"), an Error with its stack printed through the main
    // thread's stderr, thousands per layer. The unpacker closes every fd it opens itself (in
    // finally blocks); a worker is ended only while idle, or when the daemon stops.
    const worker = new Worker(new URL('./unpack-worker.js', import.meta.url), { trackUnmanagedFds: false });
    worker.on('message', (msg: { id: number; result?: UnpackResult; error?: WorkerError }) => {
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      job?.unsubscribe?.();
      if (job) {
        if (msg.error) job.reject(unpackError(msg.error));
        else job.resolve(msg.result!);
      }
      worker.unref();
      this.idle.push(worker);
      this.pump();
      if (this.idle.includes(worker)) this.idleTimers.set(worker, setTimeout(() => this.retire(worker), this.idleMs).unref());
    });
    worker.on('error', (err) => this.lose(worker, new CoracleError('INTERNAL', `unpack worker: ${err.message}`)));
    // A worker ended by close(), or one that exited by itself: its job, if any, fails.
    worker.on('exit', (code) => this.lose(worker, this.closed ? closedError() : new CoracleError('INTERNAL', `unpack worker exited with code ${code}`)));
    return worker;
  }

  /** `worker` is gone: its job, if it had one, fails with `err`, and the queue goes on. */
  private lose(worker: Worker, err: CoracleError): void {
    const job = this.busy.get(worker);
    this.busy.delete(worker);
    this.forget(worker);
    job?.unsubscribe?.();
    job?.reject(err);
    if (!this.closed) this.pump();
  }

  /** Takes `worker` out of the idle list, its timer cleared. */
  private forget(worker: Worker): void {
    clearTimeout(this.idleTimers.get(worker));
    this.idleTimers.delete(worker);
    const at = this.idle.indexOf(worker);
    if (at >= 0) this.idle.splice(at, 1);
  }

  /**
   * Ends an idle worker: it has no job, and pump() no longer finds it. Once the last one is
   * gone, the memory their threads' malloc arenas hold is given back (util/malloc-trim.ts).
   */
  private retire(worker: Worker): void {
    this.forget(worker);
    void worker.terminate().then(() => {
      if (this.workers === 0) mallocTrim();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let worker = this.idle.pop();
      if (worker) {
        clearTimeout(this.idleTimers.get(worker));
        this.idleTimers.delete(worker);
      } else {
        if (this.busy.size >= this.size) return;
        worker = this.spawn();
      }
      const job = this.queue.shift()!;
      worker.ref();
      this.busy.set(worker, job);
      const post = (msg: UnpackMessage, transfer?: ArrayBuffer[]): void => worker.postMessage(msg, transfer);
      if (!job.feed) {
        post({ id: job.id, request: job.request });
        continue;
      }
      // The feed's state now, then each change, for as long as the job runs; a write's bytes
      // with it while the unpack has read to within HANDED_AHEAD_MAX of them (blob-feed.ts).
      const consumed = new BigInt64Array(new SharedArrayBuffer(8));
      post({ id: job.id, request: job.request, feed: job.feed.state, consumed });
      job.unsubscribe = job.feed.subscribe((feed, bytes) => {
        if (bytes && bytes.length > 0 && feed.written - Number(Atomics.load(consumed, 0)) <= HANDED_AHEAD_MAX) post({ id: job.id, feed, bytes }, [bytes.buffer as ArrayBuffer]);
        else post({ id: job.id, feed });
      });
    }
  }

  /** Ends every worker; the unpacks queued or running fail with UNAVAILABLE. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(closedError());
    const all = [...this.idle, ...this.busy.keys()];
    for (const t of this.idleTimers.values()) clearTimeout(t);
    this.idleTimers.clear();
    this.idle.length = 0;
    await Promise.all(all.map((w) => w.terminate()));
  }
}
