/**
 * CPU use as a rate (nanocores), from two readings of a container's cumulative CPU time, as
 * containerd reports CRI's usage_nano_cores: kubelet's summary (and so metrics-server and
 * `kubectl top`) takes it from the runtime; without it the first summary after a pause has none.
 */
export class CpuRate {
  private readonly last = new Map<string, { at: bigint; cpu: bigint }>();

  /**
   * @param minIntervalNs a reading closer than this to the kept one is rated against it but
   *   does not replace it: callers a few milliseconds apart (kubelet's summary, metrics, a
   *   ListContainerStats) would otherwise rate each other's noise.
   */
  constructor(private readonly minIntervalNs = 1_000_000_000n) {}

  /**
   * The rate since the kept reading of `id` (`at`: a monotonic clock in nanoseconds, taken at
   * the read; `cpu`: CPU nanoseconds), or undefined for a first reading, a clock that did not
   * move or a counter that went back (the container ran again). A zero reading (nothing could
   * be read) is neither rated nor kept.
   */
  sample(id: string, at: bigint, cpu: bigint): bigint | undefined {
    if (cpu === 0n) return undefined;
    const prev = this.last.get(id);
    if (!prev || cpu < prev.cpu || at - prev.at >= this.minIntervalNs) this.last.set(id, { at, cpu });
    if (!prev || at <= prev.at || cpu < prev.cpu) return undefined;
    return ((cpu - prev.cpu) * 1_000_000_000n) / (at - prev.at);
  }

  forget(id: string): void {
    this.last.delete(id);
  }
}
