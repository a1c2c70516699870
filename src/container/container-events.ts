import type { ContainerRecord } from './container-store.js';

/** What happened to a container (or a pod sandbox, which CRI reports the same way). */
export type ContainerEventType = 'CREATED' | 'STARTED' | 'STOPPED' | 'DELETED';

export interface ContainerEvent {
  /** The container's id, or the sandbox's for a sandbox event. */
  id: string;
  sandboxId: string;
  /** Its pod's namespace: a subscriber hears only its own (src/cri/namespace-view.ts). */
  namespace: string;
  type: ContainerEventType;
  /** Milliseconds since the epoch. */
  at: number;
  /**
   * With a container's STOPPED: its record as it was published (state, exit code). A
   * subscriber that reads the event later may find the record gone (run --rm: the daemon
   * removes it in the same tick, cli-container-watcher.ts), and still has its exit.
   */
  container?: ContainerRecord;
}

/**
 * The runtime's lifecycle events as they happen, for GetContainerEvents (kubelet's evented
 * PLEG). Subscribers get what is published after they subscribed; nothing is kept.
 */
export class ContainerEvents {
  private readonly listeners = new Set<(e: ContainerEvent) => void>();
  private readonly closers = new Set<() => void>();

  publish(id: string, sandboxId: string, type: ContainerEventType, namespace: string, container?: ContainerRecord): void {
    // A copy: the record the publisher holds is not changed under the subscribers.
    const e: ContainerEvent = { id, sandboxId, namespace, type, at: Date.now(), ...(container ? { container: structuredClone(container) } : {}) };
    for (const l of this.listeners) l(e);
  }

  /** `onClose` runs when the daemon stops, so that open event streams end. */
  subscribe(listener: (e: ContainerEvent) => void, onClose: () => void): () => void {
    this.listeners.add(listener);
    this.closers.add(onClose);
    return () => {
      this.listeners.delete(listener);
      this.closers.delete(onClose);
    };
  }

  close(): void {
    for (const c of [...this.closers]) c();
    this.listeners.clear();
    this.closers.clear();
  }

  get subscribers(): number {
    return this.listeners.size;
  }
}
