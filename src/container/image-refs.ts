/**
 * Layers held by CreateContainer calls in flight. A create takes its image's chain ids in
 * the same tick it finds the image, before its first await, so that a RemoveImage or a
 * collection running while the create builds the root never deletes a layer it is about to
 * mount. The hold ends when the create ends: by then the container's record holds the
 * layers (as containerd's leases hand over to the container's snapshot), or the create
 * failed and nothing needs them. Counted: two creates of one image hold it twice.
 */
export class LayerHolds {
  private readonly counts = new Map<string, number>();

  /** Holds `chainIds` until the returned release is called (once; later calls do nothing). */
  hold(chainIds: readonly string[]): () => void {
    const held = [...new Set(chainIds)];
    for (const c of held) this.counts.set(c, (this.counts.get(c) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const c of held) {
        const n = (this.counts.get(c) ?? 1) - 1;
        if (n > 0) this.counts.set(c, n);
        else this.counts.delete(c);
      }
    };
  }

  held(): Iterable<string> {
    return this.counts.keys();
  }
}
