import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { settledWithin } from './settled-within.js';

/**
 * Work an RPC leaves to run after it has answered: each task is named and kept until it
 * settles, so that a caller can wait for one by key, and shutdown for all. A failure is
 * logged, not thrown: what it should have removed is collected again at the next start.
 */
export class BackgroundTasks {
  private readonly tasks = new Map<string, Promise<void>>();

  constructor(private readonly log: Logger) {}

  /** Starts `fn` under `key`, after any task already running under it. */
  run(key: string, what: string, fn: () => Promise<void>): Promise<void> {
    const before = this.tasks.get(key) ?? Promise.resolve();
    const task: Promise<void> = before
      .then(fn)
      .catch((err: unknown) => {
        this.log.warn(`${what} failed`, { key, error: messageOf(err) });
      })
      .finally(() => {
        if (this.tasks.get(key) === task) this.tasks.delete(key);
      });
    this.tasks.set(key, task);
    return task;
  }

  /** Settles when the task under `key` (if any) has. */
  settled(key: string): Promise<void> {
    return this.tasks.get(key) ?? Promise.resolve();
  }

  /** Settles when every task running now has, or after `ms`. */
  drain(ms: number): Promise<void> {
    return settledWithin(Promise.allSettled([...this.tasks.values()]), ms);
  }
}
