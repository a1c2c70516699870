/**
 * Who waits for which container to exit. The exit watcher wakes them when conmon writes an
 * exit file; a waiter also wakes after its own timeout, so that an event the watcher missed
 * (inotify can drop events when its queue overflows) costs time, never a hang.
 */
export class ExitWaiters {
  private readonly waiting = new Map<string, Set<() => void>>();

  /**
   * A wait that settles at the next `wake(id)` or after `ms`, whichever comes first. Taken
   * before looking at the container, so that an exit noticed between the look and the wait
   * wakes it; `cancel` lets go of it when the look found the exit.
   */
  wait(id: string, ms: number): { done: Promise<void>; cancel(): void } {
    const set = this.waiting.get(id) ?? new Set<() => void>();
    this.waiting.set(id, set);
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = (): void => {
        clearTimeout(timer);
        set.delete(finish);
        if (set.size === 0 && this.waiting.get(id) === set) this.waiting.delete(id);
        resolve();
      };
    });
    const timer = setTimeout(finish, ms);
    set.add(finish);
    return { done, cancel: finish };
  }

  wake(id: string): void {
    for (const done of [...(this.waiting.get(id) ?? [])]) done();
  }

  /** How many containers have a waiter: for tests that check nothing is left behind. */
  get size(): number {
    return this.waiting.size;
  }
}
