import type { Logger } from '../log.js';
import { mallocTrim } from './malloc-trim.js';
import { fullCollection } from './v8-collections.js';

/** How often the memory is looked at: V8's counters and the RSS (process.memoryUsage()), no collection. */
export const TICK_MS = 500;

const MiB = 1 << 20;
/** Bytes as MiB with one decimal, for the log. */
const mib = (bytes: number): number => Math.round((bytes / MiB) * 10) / 10;

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
  /** heapUsed and the process's RSS right after the last reduction, and when it ran. */
  heapAfterLast: number;
  rssAfterLast: number;
  lastAt: number;
  /** heapUsed at the previous tick. */
  heapPrevTick: number;
}

/** What a tick reads: V8's heapUsed and the process's resident set, in bytes (process.memoryUsage()). */
export interface MemorySample {
  heapUsed: number;
  rss: number;
}

/**
 * Whether to reduce now: only after work, and then once the daemon is quiet (a tick with next
 * to no allocation: a burst of pods created or removed has ended), or after maxIntervalMs of
 * work without a quiet tick (a kubelet that relists every second); never more often than
 * minIntervalMs. An idle daemon never reduces.
 *
 * Work is the heap moved since the last reduction, or the RSS grown. The RSS is for what
 * malloc holds and V8's heap does not show: a burst can grow glibc's heap by several MiB
 * (libuv's requests, HTTP/2 and child-process buffers) while V8's own collections bring
 * heapUsed back to where it was; glibc gives none of it back by itself once its trim
 * threshold has risen past it. Read from the heap alone, 6 rounds of 20 pods in 18 left
 * glibc's heap at 11.6-14.2 MiB instead of 5.5-7.5 (bench/daemon), until the next burst.
 */
export function shouldReduce(p: ReducerPolicy, s: ReducerState, m: MemorySample, now: number): boolean {
  if (now - s.lastAt < p.minIntervalMs) return false;
  if (Math.abs(m.heapUsed - s.heapAfterLast) < p.activeBytes && m.rss - s.rssAfterLast < p.activeBytes) return false;
  return Math.abs(m.heapUsed - s.heapPrevTick) < p.quietBytes || now - s.lastAt >= p.maxIntervalMs;
}

export interface MemoryReducerDeps {
  /** A full collection (V8's gc() with --expose-gc); absent, only malloc is trimmed. */
  gc?: (() => void) | undefined;
  /** glibc's malloc_trim(0). */
  trim: () => boolean;
  memory: () => MemorySample;
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
 * with --expose-gc (util/reexec DAEMON_V8_FLAGS) for this and util/young-collector.
 */
export function memoryReducer(log: Logger, deps: Partial<MemoryReducerDeps> = {}): { stop(): void } {
  const d: MemoryReducerDeps = {
    gc: fullCollection(),
    trim: mallocTrim,
    memory: () => process.memoryUsage(),
    now: () => performance.now(),
    policy: DEFAULT_POLICY,
    log,
    ...deps,
  };
  const state: ReducerState = { heapAfterLast: 0, rssAfterLast: 0, lastAt: 0, heapPrevTick: 0 };
  // `before`: the tick's own reading, when a tick asks for the reduction.
  const reduce = (before: MemorySample = d.memory()): void => {
    const started = d.now();
    try {
      d.gc?.();
      d.trim();
    } catch (err) {
      // Never fatal: the daemon runs on as it would without it.
      d.log.debug('memory reduction failed', { error: String(err) });
    }
    const m = d.memory();
    const ended = d.now();
    d.log.debug('memory reduced', { heapMiB: [mib(before.heapUsed), mib(m.heapUsed)], rssMiB: [mib(before.rss), mib(m.rss)], ms: Math.round((ended - started) * 10) / 10 });
    state.heapAfterLast = state.heapPrevTick = m.heapUsed;
    state.rssAfterLast = m.rss;
    state.lastAt = ended;
  };
  reduce();
  const timer = setInterval(() => {
    const m = d.memory();
    if (shouldReduce(d.policy, state, m, d.now())) reduce(m);
    else state.heapPrevTick = m.heapUsed;
  }, TICK_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
