import { setFlagsFromString } from 'node:v8';

/** How much more V8's heap may grow between full collections while a burst holds it wide. */
const WIDE_BYTES = 64 << 20;
/** The widest growth asked for, as V8's percent: an 11x factor. */
const MAX_PERCENT = 1000;

const FLAG = '--heap-growing-percent';

/** The --heap-growing-percent this process was started with (util/reexec puts it on the command line). */
export function startPercent(execArgv: readonly string[] = process.execArgv): number | undefined {
  const given = execArgv.find((a) => a.startsWith(`${FLAG}=`));
  const n = given === undefined ? NaN : Number(given.slice(FLAG.length + 1));
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export interface HeapGrowthDeps {
  /** The process's own percent; none, and widen() does nothing. */
  normal: number | undefined;
  /** V8's heapUsed now. */
  heapUsed: () => number;
  /** v8.setFlagsFromString. */
  set: (flags: string) => void;
}

/**
 * Lets V8's old generation grow further between full collections while a burst of bulk I/O
 * runs (a pull), and puts the daemon's own limit back once the last one is over.
 *
 * Why: the daemon runs with --heap-growing-percent=15 (util/reexec), so that the garbage of
 * pods' RPCs is collected before it piles up. V8 counts the memory Buffers hold outside its
 * heap toward that limit. A pull streams hundreds of MB through the main thread in socket
 * reads, each its own Buffer, and with a limit of some 9 MiB over an 8 MiB heap it ran a full
 * collection every 9 MiB of them: 15-17 per 200 MB pull, each marking the whole heap on
 * V8's threads, about a quarter of a core for the length of the pull. Widened so that the
 * heap may grow by WIDE_BYTES, 1-2 remain; bench/pull's zstd image, Coracle alone, went
 * from 0.87-0.92 s to 0.69-0.85 s (4 runs). What a pull leaves is collected once it is
 * over: the next full collection (the memory reducer's, util/memory-reducer.ts) sets the
 * limit from the normal percent.
 *
 * V8 reads the flag whenever it computes the next limit, at the end of each full collection,
 * and Node leaves flags changeable after start (as util/optimizer-gate relies on too).
 */
export class HeapGrowth {
  private holders = 0;

  constructor(private readonly deps: HeapGrowthDeps = { normal: startPercent(), heapUsed: () => process.memoryUsage().heapUsed, set: setFlagsFromString }) {}

  /** Widens the growth until the returned function is called (once; later calls do nothing). */
  widen(): () => void {
    const { normal } = this.deps;
    if (normal === undefined) return () => undefined;
    if (this.holders++ === 0) this.deps.set(`${FLAG}=${widePercent(normal, this.deps.heapUsed())}`);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holders === 0) this.deps.set(`${FLAG}=${normal}`);
    };
  }
}

/** The percent that lets a heap of `heapUsed` bytes grow by WIDE_BYTES, within [normal, MAX_PERCENT]. */
export function widePercent(normal: number, heapUsed: number): number {
  const percent = Math.ceil((WIDE_BYTES / Math.max(heapUsed, 1 << 20)) * 100);
  return Math.max(normal, Math.min(MAX_PERCENT, percent));
}
