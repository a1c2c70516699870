/**
 * bench/lifecycle: the latency of a pod's whole life with one container in it, RPC by RPC
 * (RunPodSandbox, CreateContainer, StartContainer, StopContainer, RemoveContainer,
 * StopPodSandbox, RemovePodSandbox), and the memory that the daemon and running pods cost
 * (the daemon's and the container monitors'), in coracle and, when it is installed, in
 * containerd, through the very same CRI client, in alternating runs, with issue 14's targets
 * checked against the medians of the runs.
 *
 * Usage: node dist/bench/lifecycle.js [--rounds 30] [--pods 20] [--churn 5] [--runs 3]
 *
 * `--runs` runs of each runtime, alternating (coracle, containerd, coracle, ...), each a
 * fresh daemon on a temp dir, a bridge and a /24 of its own, with the same pod network as
 * bench/pods (Debian's CNI plugins, the conflist coracle embeds), torn down before the next
 * starts; the load average is printed before, between and after the runs. The container
 * image is a static busybox served by a registry of the bench's own (containerd's sandbox
 * image too: a busybox that sleeps), pulled before anything is timed. In each run:
 *
 * 1. Memory of the fresh daemon, right after it serves (before the pull).
 * 2. 2 untimed warm-up rounds (which also check the pod's address), then `rounds` rounds, one
 *    after the other, each RPC timed on its own (bench/lib/pod-rounds).
 * 3. Churn: `churn` rounds of `pods` pods (each with one container) started, then ended. In
 *    the last, with the pods up, the daemon's and the monitors' VmRSS and PSS (coracle: one
 *    conmon per container; containerd: one containerd-shim-runc-v2 per pod, and its pause
 *    processes, which coracle's pods do not have). After the churn, the daemon's again, and
 *    its open fds.
 * 4. A leak check: mounts under its dir, veths on its bridge, address leases, cached CNI
 *    results, NAT rules for its subnet, pods and containers still listed, containers in its
 *    runc root, monitors still running.
 *
 * The output ends in markdown tables for docs/benchmarks.md: per RPC the median over the runs
 * of each run's p50 (and p95 and mean over all samples), memory (medians), and the targets:
 * Start = Run + Create + Start at most 0.5x containerd's, Teardown = StopContainer +
 * RemoveContainer + StopPodSandbox + RemovePodSandbox at most 0.6x, each RPC at most 1.5x; a
 * fresh daemon at most 60 MiB RSS, under 70 MiB after the churn (100 pods by default); daemon
 * + monitors PSS with `pods` pods up at most 0.5x containerd + shims + pause.
 *
 * Everything it started is stopped, both bridges deleted and every temp dir removed, whatever
 * happens (Ctrl-C: the call in flight ends, then the teardown runs; a second one tears down
 * at once). For the comparison: `apt-get install -y containerd` (Debian's 1.6).
 */
import { onPath } from './lib/host.js';
import { startBenchRegistry } from './lib/bench-images.js';
import { benchCoracle, benchContainerd, type RunOptions, type RunResult } from './lib/lifecycle-runtimes.js';
import { loadSummary } from './lib/loadavg.js';
import { memText, type Mem } from './lib/memory.js';
import { pickNetworks } from './lib/network.js';
import { ROWS, RPCS } from './lib/pod-rounds.js';
import { countOptions } from './lib/options.js';
import { alternate, type Runner } from './lib/runs.js';
import { median, printTargets, sumOf, type Target } from './lib/targets.js';
import { runBench } from './lib/teardown.js';
import { mean, percentile } from './lib/timings.js';

const START_RPCS = ['RunPodSandbox', 'CreateContainer', 'StartContainer'] as const;
const TEARDOWN_RPCS = ['StopContainer', 'RemoveContainer', 'StopPodSandbox', 'RemovePodSandbox'] as const;
const FRESH_RSS_MAX_MIB = 60;
const CHURNED_RSS_MAX_MIB = 70;
const PSS_MAX = 0.5;

export interface Options extends RunOptions {
  runs: number;
}

const options = (): Options => countOptions({ rounds: 30, pods: 20, churn: 5, runs: 3 });

/**
 * The container image and containerd's sandbox image: the static busybox, its applets
 * symlinks rather than the helper's hardlinks (containerd applies a hardlink's header mode,
 * 0644, to the inode it shares with /bin/busybox, which could then not run).
 */

// ---------------------------------------------------------------------------------------
// Medians of the runs, as markdown

/** One runtime's runs reduced to medians. */
interface Reduced {
  version: string;
  runs: RunResult[];
  /** Per row, the median of the runs' p50s. */
  p50: Map<string, number>;
  /** Per memory figure, the median of the runs'. */
  mem: (pick: (r: RunResult) => Mem) => Mem;
  num: (pick: (r: RunResult) => number) => number;
}

function reduce(runs: RunResult[]): Reduced {
  const p50 = new Map<string, number>(ROWS.map((row) => [row, median(runs.map((r) => percentile(r.timings[row], 50)))]));
  return {
    version: runs[0]!.version,
    runs,
    p50,
    mem: (pick) => ({ rss: median(runs.map((r) => pick(r).rss)), pss: median(runs.map((r) => pick(r).pss)) }),
    num: (pick) => median(runs.map(pick)),
  };
}

function printTables(o: Options, sides: Reduced[]): void {
  const header = (first: string): void => {
    console.log(`| ${first} | ${sides.map((s) => s.version).join(' | ')} |`);
    console.log(`| --- | ${sides.map(() => '---').join(' | ')} |`);
  };
  console.log(`\n## bench/lifecycle: ${o.rounds} rounds, ${o.churn} x ${o.pods} pods of churn, ${o.runs} alternating runs\n`);
  console.log(`Milliseconds: p50 (median of the runs' p50s) / p95 / mean (over every run's samples).\n`);
  header('RPC');
  for (const row of ROWS) {
    const cell = (s: Reduced): string => {
      const xs = s.runs.flatMap((r) => r.timings[row]);
      return `${s.p50.get(row)!.toFixed(1)} / ${percentile(xs, 95).toFixed(1)} / ${mean(xs).toFixed(1)}`;
    };
    console.log(`| ${row} | ${sides.map(cell).join(' | ')} |`);
  }
  console.log('');
  header('run: start / teardown (ms, sums of p50s)');
  const sums = (r: RunResult, rpcs: readonly string[]): string => sumOf(new Map(rpcs.map((x) => [x, percentile(r.timings[x as (typeof RPCS)[number]], 50)])), rpcs).toFixed(1);
  for (let i = 0; i < o.runs; i++) {
    console.log(`| ${i + 1} | ${sides.map((s) => (s.runs[i] ? `${sums(s.runs[i]!, START_RPCS)} / ${sums(s.runs[i]!, TEARDOWN_RPCS)}` : '-')).join(' | ')} |`);
  }
  console.log(`\nMemory, VmRSS (PSS), summed over the processes, medians of the runs:\n`);
  header('memory');
  const row = (what: string, cell: (s: Reduced) => string): void => console.log(`| ${what} | ${sides.map(cell).join(' | ')} |`);
  row('daemon, fresh (right after it serves)', (s) => memText(s.mem((r) => r.memory.fresh)));
  row(`daemon, after the ${o.rounds} rounds, no pod`, (s) => memText(s.mem((r) => r.memory.idle)));
  row(`daemon, ${o.pods} pods up`, (s) => memText(s.mem((r) => r.memory.daemon)));
  row(`monitors, ${o.pods} pods up`, (s) => `${memText(s.mem((r) => r.memory.monitors))}, ${s.runs[0]!.memory.monitorCount} ${s.runs[0]!.memory.monitorName}`);
  row(`pause processes, ${o.pods} pods up`, (s) => (s.runs[0]!.memory.pauseCount > 0 ? `${memText(s.mem((r) => r.memory.pause))}, ${s.runs[0]!.memory.pauseCount}` : 'none'));
  row(`daemon + monitors + pause, ${o.pods} pods up`, (s) => memText(s.mem((r) => total(r))));
  row(`daemon, after ${o.churn * o.pods} pods came and went`, (s) => memText(s.mem((r) => r.memory.after)));
  row('daemon open fds: fresh / after the rounds / after the churn', (s) => [s.num((r) => r.memory.fds.fresh), s.num((r) => r.memory.fds.idle), s.num((r) => r.memory.fds.after)].join(' / '));
}

/** Daemon + monitors + pause processes with the pods up. */
function total(r: RunResult): Mem {
  const m = r.memory;
  return { rss: m.daemon.rss + m.monitors.rss + m.pause.rss, pss: m.daemon.pss + m.monitors.pss + m.pause.pss };
}

function checkTargets(o: Options, c: Reduced, d: Reduced | undefined): boolean {
  const other = (x: number | undefined): { containerd?: number } => (x === undefined ? {} : { containerd: x });
  const ratio = (name: string, x: number, y: number | undefined, max: number, unit = 'ms'): Target => ({ name, coracle: x, ...other(y), limit: { kind: 'ratio', max }, unit });
  const MiB = (kib: number): number => kib / 1024;
  const fresh = (s: Reduced): number => MiB(s.mem((r) => r.memory.fresh).rss);
  const after = (s: Reduced): number => MiB(s.mem((r) => r.memory.after).rss);
  const targets: Target[] = [
    ratio('Start (RunPodSandbox + CreateContainer + StartContainer)', sumOf(c.p50, START_RPCS), d && sumOf(d.p50, START_RPCS), 0.5),
    ratio('Teardown (StopContainer + RemoveContainer + StopPodSandbox + RemovePodSandbox)', sumOf(c.p50, TEARDOWN_RPCS), d && sumOf(d.p50, TEARDOWN_RPCS), 0.6),
    ...RPCS.map((rpc) => ratio(rpc, c.p50.get(rpc)!, d?.p50.get(rpc), 1.5)),
    { name: 'fresh daemon RSS', coracle: fresh(c), ...other(d && fresh(d)), limit: { kind: 'absolute', max: FRESH_RSS_MAX_MIB }, unit: 'MiB' },
    { name: `daemon RSS after ${o.churn * o.pods} pods came and went`, coracle: after(c), ...other(d && after(d)), limit: { kind: 'absolute', max: CHURNED_RSS_MAX_MIB, strict: true }, unit: 'MiB' },
    ratio(`PSS with ${o.pods} pods up: daemon + monitors (containerd: + shims + pause)`, MiB(c.mem(total).pss), d && MiB(d.mem(total).pss), PSS_MAX, 'MiB'),
  ];
  return printTargets(`Issue 14's targets (medians of ${c.runs.length} runs):`, targets);
}

runBench(options, 'node dist/bench/lifecycle.js [--rounds 30] [--pods 20] [--churn 5] [--runs 3]', async (o, cleanups) => {
  // Not bench/pods' names and subnets: both may run at once.
  const nets = await pickNetworks({ bridgePrefix: 'crlife', coracleOctet: 251, containerdOctet: 252 });
  const registry = await startBenchRegistry(cleanups);
  const runners: Runner<RunResult>[] = [{ name: 'coracle', run: (c) => benchCoracle(c, registry, nets.coracle, o) }];
  if (await onPath('containerd')) runners.push({ name: 'containerd', run: (c) => benchContainerd(c, registry, nets.containerd, o) });
  else console.log('containerd: not on PATH, no comparison (to compare: apt-get install -y containerd)');
  const results = await alternate(cleanups, o.runs, runners);
  const coracle = reduce(results.get('coracle')!);
  const containerd = results.get('containerd')?.length ? reduce(results.get('containerd')!) : undefined;
  printTables(o, containerd ? [coracle, containerd] : [coracle]);
  checkTargets(o, coracle, containerd);
  console.log(`\n${loadSummary()}`);
  const leaked = [...results.values()].flat().filter((r) => !r.clean).length;
  console.log(`\nLeak checks: ${leaked === 0 ? `nothing left after any of the ${[...results.values()].flat().length} runs` : `${leaked} runs leaked (see above)`}.`);
  if (leaked > 0) throw new Error('a runtime leaked (see the leak checks above)');
});
