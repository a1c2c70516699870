import type { Logger } from '../log.js';
import { mallocTrim } from './malloc-trim.js';

/** How often the heap is looked at: a read of V8's counters, no collection. */
export const TICK_MS = 500;

export interface ReducerPolicy {
  /** Allocation since the last reduction that counts as work done (bytes of heapUsed moved). */
  activeBytes: number;
  /** A tick whose heapUsed moved less than this is quiet. */
  quietBytes: number;
  /** Never two reductions closer than this. */
  minIntervalMs: number;
  /** While work goes on without a quiet tick, a reduction at least this often. */
  maxIntervalMs: number;
}

export const DEFAULT_POLICY: ReducerPolicy = { activeBytes: 1 << 20, quietBytes: 64 << 10, minIntervalMs: 5_000, maxIntervalMs: 30_000 };

export interface ReducerState {
  /** heapUsed right after the last reduction, and when it ran. */
  heapAfterLast: number;
  lastAt: number;
  /** heapUsed at the previous tick. */
  heapPrevTick: number;
}

/**
 * Whether to reduce now: only after work (the heap moved since the last reduction), and then
 * once the daemon is quiet (a tick with next to no allocation: a burst of pods created or
 * removed has ended), or after maxIntervalMs of work without a quiet tick (a kubelet that
 * relists every second); never more often than minIntervalMs. An idle daemon never reduces.
 */
export function shouldReduce(p: ReducerPolicy, s: ReducerState, heapUsed: number, now: number): boolean {
  if (now - s.lastAt < p.minIntervalMs) return false;
  if (Math.abs(heapUsed - s.heapAfterLast) < p.activeBytes) return false;
  return Math.abs(heapUsed - s.heapPrevTick) < p.quietBytes || now - s.lastAt >= p.maxIntervalMs;
}

export interface MemoryReducerDeps {
  /** A full collection (V8's gc() with --expose-gc); absent, only malloc is trimmed. */
  gc?: (() => void) | undefined;
  /** glibc's malloc_trim(0). */
  trim: () => boolean;
  heapUsed: () => number;
  now: () => number;
  policy: ReducerPolicy;
  log: Logger;
}

/**
 * Gives the memory a burst of work leaves behind back to the kernel: a full collection, then
 * malloc_trim, at start and then as shouldReduce says. Why: V8 grows its old generation
 * during a burst (pods made or removed together, a pull, a relist of many pods) and keeps
 * the pages once they are free, as glibc keeps its arenas' (libuv's pool threads allocate
 * in arenas of their own); neither hands them back on its own in a daemon that is never
 * quite idle. bench/daemon: 88 MiB of RSS after 100 pods came and went, against 67 MiB for
 * the fresh daemon, with no fd or object growth; a full collection brought it back. One
 * takes a few ms over a daemon's heap (tens of MiB), at most every 5 s. The daemon runs
 * with --expose-gc (util/reexec DAEMON_V8_FLAGS) for this alone.
 */
export function memoryReducer(log: Logger, deps: Partial<MemoryReducerDeps> = {}): { stop(): void } {
  const v8gc = globalThis.gc;
  const d: MemoryReducerDeps = {
    gc: v8gc ? () => v8gc({ type: 'major' }) : undefined,
    trim: mallocTrim,
    heapUsed: () => process.memoryUsage().heapUsed,
    now: () => performance.now(),
    policy: DEFAULT_POLICY,
    log,
    ...deps,
  };
  const state: ReducerState = { heapAfterLast: 0, lastAt: 0, heapPrevTick: 0 };
  const reduce = (): void => {
    try {
      d.gc?.();
      d.trim();
    } catch (err) {
      // Never fatal: the daemon runs on as it would without it.
      d.log.debug('memory reduction failed', { error: String(err) });
    }
    state.heapAfterLast = state.heapPrevTick = d.heapUsed();
    state.lastAt = d.now();
  };
  reduce();
  const timer = setInterval(() => {
    const heapUsed = d.heapUsed();
    if (shouldReduce(d.policy, state, heapUsed, d.now())) reduce();
    else state.heapPrevTick = heapUsed;
  }, TICK_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
