import type { SnapshotLease } from './snapshotter.js';

/**
 * The leases of operations in progress: each holds chain IDs until released. Counted per
 * lease, not per chain: two leases of one chain hold it twice, and a lease that adds a chain
 * twice lets go of it once. Everything here is synchronous, so a caller can take a lease in
 * the same tick it finds what the lease must hold.
 */
export class SnapshotLeases {
  private readonly live = new Set<Set<string>>();

  lease(): SnapshotLease {
    const held = new Set<string>();
    this.live.add(held);
    let released = false;
    return {
      add: (chainId) => {
        if (!released) held.add(chainId);
      },
      release: () => {
        released = true;
        this.live.delete(held);
      },
    };
  }

  /** Every chain ID a live lease holds, once. */
  held(): Set<string> {
    const out = new Set<string>();
    for (const l of this.live) for (const c of l) out.add(c);
    return out;
  }
}
