import { Worker } from 'node:worker_threads';
import { CoracleError } from '../errors.js';
import type { UnpackRequest, UnpackResult } from './unpack.js';

interface Job {
  id: number;
  request: UnpackRequest;
  resolve(r: UnpackResult): void;
  reject(e: Error): void;
}

/**
 * A small pool of worker threads for layer unpacks, so that gunzip, hashing and thousands
 * of file syscalls never stall the gRPC loop. Workers start on first use and are unref'd
 * while idle, so an idle pool does not keep the process alive.
 */
export class UnpackPool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Job>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly size: number) {}

  unpack(request: UnpackRequest): Promise<UnpackResult> {
    if (this.closed) return Promise.reject(new CoracleError('UNAVAILABLE', 'unpack pool closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, request, resolve, reject });
      this.pump();
    });
  }

  private spawn(): Worker {
    const worker = new Worker(new URL('./unpack-worker.js', import.meta.url));
    worker.on('message', (msg: { id: number; result?: UnpackResult; error?: { message: string; code?: string } }) => {
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      if (job) {
        if (msg.error) {
          const err = new CoracleError('FAILED_PRECONDITION', msg.error.message);
          job.reject(err);
        } else job.resolve(msg.result!);
      }
      worker.unref();
      this.idle.push(worker);
      this.pump();
    });
    worker.on('error', (err) => {
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      job?.reject(new CoracleError('INTERNAL', `unpack worker: ${err.message}`));
      this.pump();
    });
    return worker;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let worker = this.idle.pop();
      if (!worker) {
        if (this.busy.size >= this.size) return;
        worker = this.spawn();
      }
      const job = this.queue.shift()!;
      worker.ref();
      this.busy.set(worker, job);
      worker.postMessage({ id: job.id, request: job.request });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.idle, ...this.busy.keys()];
    this.idle.length = 0;
    await Promise.all(all.map((w) => w.terminate()));
  }
}
