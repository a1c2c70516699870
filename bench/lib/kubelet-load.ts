/**
 * bench/lib/kubelet-load: what kubelet asks of a runtime on a busy node, for bench/scale. A
 * poller (PLEG's relist every second: ListPodSandbox + ListContainers, then the status of
 * each pod and container that changed; the stats loop every 10 s: ListPodSandboxStats,
 * ListContainerStats, ImageFsInfo) and, beside it, pods that churn: one at a time removed and
 * made again with its container. Every RPC is timed by method into a Latencies.
 */
import type { CriClients } from '../../test/helpers/cri-client.js';
import { sleep } from './host.js';
import { checkInterrupted } from './teardown.js';
import { percentile } from './timings.js';

export const RPC_DEADLINE_MS = 60_000;
const NOT_FOUND = 5;
const UNKNOWN = 2;
export const opts = (): { deadline: number } => ({ deadline: Date.now() + RPC_DEADLINE_MS });

/** Each RPC's latencies, in ms, by method. */
export class Latencies {
  readonly byMethod = new Map<string, number[]>();
  /** Calls that failed with a code let go (see timeOrFailed), by method, then by code and first message. */
  readonly failed = new Map<string, Map<number, { n: number; first: string }>>();

  /**
   * `time`, where a failure with one of `codes` is counted and printed, not the bench's end:
   * as kubelet logs and retries. NOT_FOUND is an object the churn removed while the call ran;
   * containerd's ListPodSandboxStats fails so, and UNKNOWN for a pod it is tearing down.
   */
  async timeOrFailed(method: string, call: () => Promise<unknown>, codes: readonly number[] = [NOT_FOUND]): Promise<void> {
    try {
      await this.time(method, call);
    } catch (err) {
      const e = err as { code?: number; details?: string };
      if (e.code === undefined || !codes.includes(e.code)) throw err;
      let byCode = this.failed.get(method);
      if (!byCode) this.failed.set(method, (byCode = new Map<number, { n: number; first: string }>()));
      const seen = byCode.get(e.code);
      if (seen) seen.n++;
      else byCode.set(e.code, { n: 1, first: e.details ?? '' });
    }
  }

  async time<T>(method: string, call: () => Promise<T>): Promise<T> {
    const start = process.hrtime.bigint();
    const result = await call();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    let xs = this.byMethod.get(method);
    if (!xs) this.byMethod.set(method, (xs = []));
    xs.push(ms);
    return result;
  }

  /** p50, p99 and max of `method`, ms (NaN when it was never called). */
  figures(method: string): { n: number; p50: number; p99: number; max: number } {
    const xs = this.byMethod.get(method) ?? [];
    if (xs.length === 0) return { n: 0, p50: NaN, p99: NaN, max: NaN };
    return { n: xs.length, p50: percentile(xs, 50), p99: percentile(xs, 99), max: Math.max(...xs) };
  }
}

/** A pod with its one container, as made by the bench (the churn removes and makes them). */
export interface BenchPod {
  podId: string;
  containerId: string;
}

/** How the churn makes and ends a pod with its container, each RPC timed into `t`. */
export interface PodMaker {
  start(label: string, t: Latencies): Promise<BenchPod>;
  end(pod: BenchPod, t: Latencies): Promise<void>;
}

/** Something that may stop a loop: set once, by the end of the phase or by a failure. */
export interface Stop {
  stopped: boolean;
}

/** Sleeps until `until` (Date.now() ms) or until `stop` is set, looking every 100 ms. */
async function waitUntil(until: number, stop: Stop): Promise<void> {
  while (!stop.stopped && Date.now() < until) await sleep(Math.min(100, until - Date.now()));
}

/**
 * PLEG's relist: the lists, then PodSandboxStatus and ContainerStatus of each pod and
 * container that is new or changed state since the previous relist (ids gone are dropped).
 * A pod or container removed since the list is NOT_FOUND: kubelet lets that go, so does the bench.
 */
async function relist(c: CriClients, t: Latencies, seen: { pods: Map<string, string>; containers: Map<string, string> }): Promise<void> {
  const pods = (await t.time('ListPodSandbox', () => c.runtime.ListPodSandbox({}, opts()))).items;
  const containers = (await t.time('ListContainers', () => c.runtime.ListContainers({}, opts()))).containers;
  await statusOfChanged(pods, seen.pods, (id) => t.timeOrFailed('PodSandboxStatus', () => c.runtime.PodSandboxStatus({ pod_sandbox_id: id, verbose: false }, opts())));
  await statusOfChanged(containers, seen.containers, (id) => t.timeOrFailed('ContainerStatus', () => c.runtime.ContainerStatus({ container_id: id, verbose: false }, opts())));
}

/** `status` of each of `listed` whose state is not the one `seen` has; `seen` then holds the list's states. */
async function statusOfChanged(listed: { id: string; state: string }[], seen: Map<string, string>, status: (id: string) => Promise<unknown>): Promise<void> {
  const ids = new Set<string>();
  for (const { id, state } of listed) {
    ids.add(id);
    if (seen.get(id) === state) continue;
    seen.set(id, state);
    await status(id);
  }
  for (const id of [...seen.keys()]) if (!ids.has(id)) seen.delete(id);
}

/** kubelet's stats loop, once: what the summary API needs. */
export async function statsOnce(c: CriClients, t: Latencies): Promise<void> {
  await t.timeOrFailed('ListPodSandboxStats', () => c.runtime.ListPodSandboxStats({}, opts()), [NOT_FOUND, UNKNOWN]);
  await t.timeOrFailed('ListContainerStats', () => c.runtime.ListContainerStats({}, opts()), [NOT_FOUND, UNKNOWN]);
  await t.time('ImageFsInfo', () => c.image.ImageFsInfo({}, opts()));
}

/** Runs `body` every `periodMs` (from the start of one run to the next) until `stop`. */
async function every(periodMs: number, stop: Stop, body: () => Promise<void>): Promise<number> {
  let runs = 0;
  while (!stop.stopped) {
    checkInterrupted();
    const next = Date.now() + periodMs;
    await body();
    runs++;
    await waitUntil(next, stop);
  }
  return runs;
}

/**
 * For `seconds`: the poller runs, and the pods of `pods` (which it keeps up to date) are
 * ended and made again one after the other. Whatever fails stops the others, then throws.
 */
export async function churnUnderPoller(c: CriClients, maker: PodMaker, pods: BenchPod[], seconds: number, t: Latencies): Promise<{ relists: number; statsRuns: number; churned: number }> {
  const stop: Stop = { stopped: false };
  const seen = { pods: new Map<string, string>(), containers: new Map<string, string>() };
  const guard = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err: unknown) => {
      stop.stopped = true;
      throw err;
    });
  const deadline = Date.now() + seconds * 1000;
  let churned = 0;
  const churn = async (): Promise<void> => {
    for (let i = 0; !stop.stopped && Date.now() < deadline; i = (i + 1) % pods.length) {
      checkInterrupted();
      await maker.end(pods[i]!, t);
      pods[i] = await maker.start(`c${churned}`, t);
      churned++;
    }
    stop.stopped = true;
  };
  // Settled, all three, before anything throws: the teardown must not run beside a churn.
  const [relists, statsRuns, churning] = await Promise.allSettled([
    guard(every(1000, stop, () => relist(c, t, seen))),
    guard(every(10_000, stop, () => statsOnce(c, t))),
    guard(churn()),
  ]);
  for (const r of [relists, statsRuns, churning]) if (r.status === 'rejected') throw r.reason;
  return { relists: relists.status === 'fulfilled' ? relists.value : 0, statsRuns: statsRuns.status === 'fulfilled' ? statsRuns.value : 0, churned };
}

/** Each method's figures, with its p99 against the 1 s target, and the ratio to `other`'s p99. */
export function printLatencies(title: string, t: Latencies, other?: Latencies): boolean {
  const methods = [...new Set([...t.byMethod.keys(), ...t.failed.keys()])].sort();
  const width = Math.max(...methods.map((m) => m.length), 6) + 2;
  console.log(title);
  console.log(`  ${'RPC'.padEnd(width)}${'n'.padStart(6)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'max ms'.padStart(10)}  target p99 <= 1000 ms${other ? ', p99 ratio to containerd' : ''}`);
  let ok = true;
  for (const m of methods) {
    const f = t.figures(m);
    // No call that succeeded is no figure that meets the target.
    const met = f.n > 0 && f.p99 <= 1000;
    ok &&= met;
    const ratio = other ? `  ${(f.p99 / other.figures(m).p99).toFixed(2)}x` : '';
    console.log(`  ${m.padEnd(width)}${String(f.n).padStart(6)}${f.p50.toFixed(2).padStart(10)}${f.p99.toFixed(2).padStart(10)}${f.max.toFixed(2).padStart(10)}  ${met ? 'met' : 'MISSED'}${ratio}`);
    for (const [code, { n, first }] of t.failed.get(m) ?? []) console.log(`    and ${n} failed with code ${code} (as kubelet, let go), the first: ${first.slice(0, 160)}`);
  }
  return ok;
}
