/**
 * CPU use as a rate (nanocores), from two readings of a container's cumulative CPU time, as
 * containerd reports CRI's usage_nano_cores: kubelet's summary (and so metrics-server and
 * `kubectl top`) takes it from the runtime; without it the first summary after a pause has none.
 */
export class CpuRate {
  private readonly last = new Map<string, { at: bigint; cpu: bigint }>();

  /**
   * The rate since the previous reading of `id` (nanoseconds since the epoch, CPU
   * nanoseconds), or undefined for a first reading, a clock that did not move or a counter
   * that went back (the container ran again).
   */
  sample(id: string, at: bigint, cpu: bigint): bigint | undefined {
    const prev = this.last.get(id);
    this.last.set(id, { at, cpu });
    if (!prev || at <= prev.at || cpu < prev.cpu) return undefined;
    return ((cpu - prev.cpu) * 1_000_000_000n) / (at - prev.at);
  }

  forget(id: string): void {
    this.last.delete(id);
  }
}
