import type { OciRuntime } from '../oci/runtime.js';
import type { BackgroundTasks } from '../util/background.js';
import { unmount } from '../util/mounts.js';

/**
 * What a container holds only while it can run, let go as soon as it has exited, as
 * containerd's shim deletes its task at exit: the runtime's container (its state and
 * cgroups) and the overlay mount of its root. Its record, logs and upper dir stay until
 * RemoveContainer. An exit noticed by the watcher starts the release in the background;
 * StopContainer and RemoveContainer wait for it, and do it themselves when it has not run
 * (an exit read at start-up) or failed. Both steps are idempotent.
 */
export class ContainerReleases {
  private readonly done = new Set<string>();

  constructor(
    private readonly deps: { runtime(handler: string): OciRuntime | undefined; rootfs(id: string): string },
    private readonly background: BackgroundTasks,
  ) {}

  private key(id: string): string {
    return `release:${id}`;
  }

  /** At an exit: releases in the background; a failure is logged and retried by `now`. */
  begin(c: { id: string; runtimeHandler: string }): void {
    void this.background.run(this.key(c.id), `container ${c.id}: release`, () => this.release(c));
  }

  /** Released when this settles; throws what the release threw. */
  async now(c: { id: string; runtimeHandler: string }): Promise<void> {
    await this.background.settled(this.key(c.id));
    if (!this.done.has(c.id)) await this.release(c);
  }

  /** Its root is mounted again (a restart), or it is gone. */
  forget(id: string): void {
    this.done.delete(id);
  }

  private async release(c: { id: string; runtimeHandler: string }): Promise<void> {
    // runc's delete of a stopped container removes its state and cgroups, never its root:
    // the two run at once.
    await Promise.all([this.deps.runtime(c.runtimeHandler)?.delete(c.id), unmount(this.deps.rootfs(c.id), `container ${c.id}: rootfs`)]);
    this.done.add(c.id);
  }
}
