import { youngCollection } from './v8-collections.js';

/**
 * A young-generation collection (a scavenge) each time a bulk loop has passed `everyBytes`
 * through Buffers of its own: a download's socket reads on the daemon's main thread, an
 * unpack worker's reads of a blob.
 *
 * Why: a Buffer's bytes live outside V8's heap and are freed only when a collection finds the
 * Buffer dead. V8 runs a scavenge when its young generation's few MiB of JavaScript objects
 * fill, and a full collection when the bytes outside the heap have grown by tens of MiB. A
 * loop that allocates a Buffer of 64 KiB to 1 MiB per turn, and few objects besides, fills
 * neither soon: during bench/pull's 200 MB pull each unpack worker held up to 65 MiB of
 * dead Buffers at a time, and glibc's heap grew to hold them (the daemon's anonymous memory
 * peaked at 197-230 MiB, and as the memory reducer gives it back after the pull,
 * util/memory-reducer.ts, each pull faulted 22,000-45,000 pages in anew). With a scavenge
 * every 4 MiB the workers held 24-28 MiB, the daemon peaked at 185-194 MiB, and a pull took
 * 0.91-0.95x the CPU (two runs of bench/pull alternating this build and the one before, 5
 * pulls each). A scavenge of a young generation this small takes a fraction of a
 * millisecond, some fifty of them per thread a pull. What is left on the main thread is
 * mostly Buffers that lived long enough to be promoted, for the full collections that
 * util/heap-growth.ts spaces out during a pull.
 *
 * The daemon and its workers run with --expose-gc (util/reexec DAEMON_V8_FLAGS); a process
 * without it (a test, the CLI) has no `gc`, and this does nothing.
 */
export class YoungCollector {
  private passed = 0;

  constructor(
    private readonly everyBytes: number,
    private readonly collect: (() => void) | undefined = youngCollection(),
  ) {}

  /** Counts `bytes` more; collects once everyBytes have passed since the last collection. */
  add(bytes: number): void {
    if (!this.collect) return;
    this.passed += bytes;
    if (this.passed < this.everyBytes) return;
    this.passed = 0;
    this.collect();
  }
}

/** The bytes a bulk loop passes between two collections. */
export const BULK_COLLECT_BYTES = 4 << 20;
