/**
 * bench/critest: critest's own benchmark mode (`critest -benchmark`, cri-tools' pod,
 * container and image lifecycle benchmarks) against coracle and, when it is installed,
 * containerd, in alternating runs, with the figures of both side by side and issue 14's
 * targets checked against them.
 *
 * Usage: node dist/bench/critest.js [--critest /opt/lab/bin/critest] [--registry http://127.0.0.1:5000] [--n 20] [--runs 3] [--seed N] [--skip RE]
 *
 * critest is not part of Coracle: build it outside the repo (DEVELOPERS.md) and serve its
 * images from ../shared/critest-env's registry (its README). Both runtimes map critest's
 * registry hosts to that registry with no fallback, and get a pod network of their own (the
 * conflist coracle embeds, Debian's plugins). `--n` pods, containers and images per
 * benchmark, one at a time. `--runs` runs of each runtime, alternating (coracle, containerd,
 * coracle, ...), each a fresh daemon on a temp dir of its own, torn down before the next; the
 * load average is printed before, between and after them. Each run's raw results stay in its
 * temp dir only for the run. The figures: per operation, the median over the runs of each
 * run's p50 (what the targets use), and p95 and mean over every run's samples, in ms.
 * critest runs its benchmarks in an order ginkgo draws at random, which PullImage depends on
 * (orderOf): each run's seed and order are printed, and `--seed` gives every run of both
 * runtimes the same one. `--skip` leaves out the benchmarks whose names match (ginkgo's
 * skip: `PodSandbox|Container` runs the two image benchmarks alone; a ginkgo focus cannot
 * narrow them, as critest's own focus on "benchmark" is or-ed with it); the Start and
 * Teardown sums are checked only where all of their operations ran.
 *
 * Targets (issue 14, ratios to containerd): Start = CreatePod + CreateContainer +
 * StartContainer at most 0.5x, Teardown = StopContainer + RemoveContainer + StopPod +
 * RemovePod at most 0.6x, each operation at most 1.5x. The output is markdown, ready for
 * docs/benchmarks.md.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CriClients } from '../test/helpers/cri-client.js';
import { CRI_PLUGIN, containerdTempDir, podsContainerdConfig, startContainerd } from './lib/containerd.js';
import { coracleConfig, coracleTempDir, startCoracleDaemon } from './lib/coracle-daemon.js';
import { Cleanups, onPath } from './lib/host.js';
import { loadSummary } from './lib/loadavg.js';
import { addNetworkCleanup, pickNetworks, writeContainerdConflist, type Net } from './lib/network.js';
import { positiveInt } from './lib/options.js';
import { alternate, type Runner, type RuntimeName } from './lib/runs.js';
import { median, printTargets, sumOf, type Target } from './lib/targets.js';
import { runBench } from './lib/teardown.js';
import { mean, percentile } from './lib/timings.js';

const CNI_BIN_DIR = '/usr/lib/cni';
/** The hosts critest's images are named under. */
const CRITEST_HOSTS = ['registry.k8s.io', 'k8s.gcr.io', 'gcr.io', 'public.ecr.aws', 'docker.io'];
/** Issue 14's sums, in critest's operation names. */
const START_OPS = ['CreatePod', 'CreateContainer', 'StartContainer'] as const;
const TEARDOWN_OPS = ['StopContainer', 'RemoveContainer', 'StopPod', 'RemovePod'] as const;
const START_MAX = 0.5;
const TEARDOWN_MAX = 0.6;
const OPERATION_MAX = 1.5;

interface Options {
  critest: string;
  registry: string;
  n: number;
  runs: number;
  /** ginkgo's seed for every run; none: critest draws one per run. */
  seed: number | undefined;
  /** ginkgo's skip: a regular expression on the names of the benchmarks left out; none: none. */
  skip: string | undefined;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      critest: { type: 'string', default: '/opt/lab/bin/critest' },
      registry: { type: 'string', default: 'http://127.0.0.1:5000' },
      n: { type: 'string', default: '20' },
      runs: { type: 'string', default: '3' },
      seed: { type: 'string' },
      skip: { type: 'string' },
    },
  });
  return {
    critest: values.critest!,
    registry: values.registry!,
    n: positiveInt('n', values.n),
    runs: positiveInt('runs', values.runs),
    seed: values.seed === undefined ? undefined : positiveInt('seed', values.seed),
    skip: values.skip,
  };
}

/** One operation's durations, in ms, per runtime. */
type Figures = Map<string, number[]>;

interface RunResult {
  version: string;
  figures: Figures;
  /** The seed and order critest ran its benchmarks in (orderOf). */
  order: string;
}

/**
 * critest runs its benchmarks in an order ginkgo draws from a random seed, and PullImage
 * depends on it: its image's lower layer is busybox:1.29-2's, which the container benchmark
 * and the start-a-container-from-scratch one pull and leave, so a pull after either of them
 * unpacks one layer, before both two. Said as the seed and the order in which the benchmarks
 * that write result files began (the start-from-scratch one writes none).
 */
function orderOf(output: string, firstStart: Map<string, number>): string {
  // Ginkgo's summary line: "[1796249036] CRI validation - 12/83 specs".
  const seed = /^\[(\d+)\] /m.exec(output)?.[1] ?? '?';
  const names = [...firstStart].sort((a, b) => a[1] - b[1]).map(([file]) => file.replace(/_benchmark_data\.json$/, '').replace(/_/g, ' '));
  return `seed ${seed}: ${names.join(', ')}`;
}

/** Runs critest's benchmarks against `socket`; returns every operation's durations. */
async function runCritest(o: Options, dir: string, socket: string): Promise<Omit<RunResult, 'version'>> {
  const params = join(dir, 'benchmark-params.yaml');
  await writeFile(
    params,
    [
      `containersNumber: ${o.n}`,
      'containersNumberParallel: 1',
      'containerBenchmarkTimeoutSeconds: 300',
      `podsNumber: ${o.n}`,
      'podsNumberParallel: 1',
      'podBenchmarkTimeoutSeconds: 300',
      `imagesNumber: ${o.n}`,
      'imagesNumberParallel: 1',
      'imageBenchmarkTimeoutSeconds: 300',
      'podContainerStartBenchmarkTimeoutSeconds: 300',
    ].join('\n') + '\n',
  );
  const out = join(dir, 'critest-benchmark');
  // critest writes its result files into this dir but does not make it.
  await mkdir(out);
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      o.critest,
      [
        '-benchmark',
        `-runtime-endpoint=unix://${socket}`,
        `-image-endpoint=unix://${socket}`,
        `-benchmarking-params-file=${params}`,
        `-benchmarking-output-dir=${out}`,
        '--ginkgo.no-color',
        ...(o.seed === undefined ? [] : [`--ginkgo.seed=${o.seed}`]),
        ...(o.skip === undefined ? [] : [`--ginkgo.skip=${o.skip}`]),
      ],
      { timeout: 30 * 60_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`critest -benchmark failed: ${err.message}\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`));
        else resolve(`${stdout}\n${stderr}`);
      },
    );
  });
  const figures: Figures = new Map();
  const firstStart = new Map<string, number>();
  for (const file of (await readdir(out)).filter((f) => f.endsWith('.json')).sort()) {
    const set = JSON.parse(await readFile(join(out, file), 'utf8')) as { operationsNames: string[]; datapoints: { startTime: number; operationsDurationsNs: number[] }[] };
    firstStart.set(file, Math.min(...set.datapoints.map((d) => d.startTime)));
    set.operationsNames.forEach((name, i) => {
      const ms = set.datapoints.map((d) => (d.operationsDurationsNs[i] ?? 0) / 1e6);
      figures.set(name, [...(figures.get(name) ?? []), ...ms]);
    });
  }
  return { figures, order: orderOf(output, firstStart) };
}

async function benchCoracle(cleanups: Cleanups, o: Options, net: Net): Promise<RunResult> {
  const dir = await coracleTempDir(cleanups, 'coracle-bench-critest-');
  addNetworkCleanup(cleanups, net);
  const registries = Object.fromEntries(CRITEST_HOSTS.map((h) => [h, o.registry]));
  const { config, socket } = await coracleConfig(dir, { cniBinDirs: [CNI_BIN_DIR], net, registries });
  const { clients } = await startCoracleDaemon(cleanups, config, socket, { detached: true });
  addPodsCleanup(cleanups, 'coracle', clients);
  const v = await clients.runtime.Version({});
  return { version: `Coracle ${v.runtime_version}`, ...(await runCritest(o, dir, socket)) };
}

async function benchContainerd(cleanups: Cleanups, o: Options, net: Net): Promise<RunResult> {
  const dir = await containerdTempDir(cleanups, 'coracle-bench-critest-containerd-');
  addNetworkCleanup(cleanups, net);
  const { confDir } = await writeContainerdConflist(dir, net);
  const registryHost = new URL(o.registry).host;
  const mirrors = CRITEST_HOSTS.map((h) => `[${CRI_PLUGIN}.registry.mirrors.${JSON.stringify(h)}]\n  endpoint = [${JSON.stringify(o.registry)}]\n`).join('\n');
  const config = podsContainerdConfig(dir, { registryHost, cniBinDir: CNI_BIN_DIR, cniConfDir: confDir, pause: `${registryHost}/pause:3.9`, runcRoot: join(dir, 'runc') });
  const { clients } = await startContainerd(cleanups, dir, `${config}\n${mirrors}`, { detached: true });
  addPodsCleanup(cleanups, 'containerd', clients);
  const v = await clients.runtime.Version({});
  return { version: `${v.runtime_name} ${v.runtime_version}`, ...(await runCritest(o, dir, join(dir, 'containerd.sock'))) };
}

/** A run cut short leaves pods behind: they go before the daemon does. */
function addPodsCleanup(cleanups: Cleanups, name: string, clients: CriClients): void {
  cleanups.add(`remove the containers and pods of ${name}`, async () => {
    for (const c of (await clients.runtime.ListContainers({})).containers) await clients.runtime.RemoveContainer({ container_id: c.id });
    for (const p of (await clients.runtime.ListPodSandbox({})).items) {
      await clients.runtime.StopPodSandbox({ pod_sandbox_id: p.id });
      await clients.runtime.RemovePodSandbox({ pod_sandbox_id: p.id });
    }
  });
}

/** One runtime's runs reduced: per operation, the median of the runs' p50s and every sample. */
interface Reduced {
  version: string;
  runs: RunResult[];
  p50: Map<string, number>;
  samples: Map<string, number[]>;
}

function reduce(runs: RunResult[]): Reduced {
  const ops = [...new Set(runs.flatMap((r) => [...r.figures.keys()]))];
  const p50 = new Map<string, number>();
  const samples = new Map<string, number[]>();
  for (const op of ops) {
    const per = runs.map((r) => r.figures.get(op) ?? []).filter((xs) => xs.length > 0);
    p50.set(op, median(per.map((xs) => percentile(xs, 50))));
    samples.set(op, per.flat());
  }
  return { version: runs[0]?.version ?? '-', runs, p50, samples };
}

function printTables(o: Options, sides: Reduced[]): void {
  const ops = [...new Set(sides.flatMap((s) => [...s.p50.keys()]))];
  const cell = (s: Reduced, op: string): string => {
    const xs = s.samples.get(op);
    return xs && xs.length ? `${s.p50.get(op)!.toFixed(1)} / ${percentile(xs, 95).toFixed(1)} / ${mean(xs).toFixed(1)}` : '-';
  };
  console.log(`\n## critest -benchmark, ${o.n} per benchmark, ${o.runs} alternating runs\n`);
  console.log(`Milliseconds: p50 (median of the runs' p50s) / p95 / mean (over every run's samples).\n`);
  console.log(`| operation | ${sides.map((s) => s.version).join(' | ')} |`);
  console.log(`| --- | ${sides.map(() => '---').join(' | ')} |`);
  for (const op of ops) console.log(`| ${op} | ${sides.map((s) => cell(s, op)).join(' | ')} |`);
  console.log(`\nSamples per operation and run: ${sides.map((s) => `${s.version} ${Math.max(...[...s.samples.values()].map((x) => x.length)) / s.runs.length}`).join(', ')}.`);
  // Each run's sums, to show how far the runs spread.
  const sums = (r: RunResult, names: readonly string[]): string => sumOf(new Map(names.map((op) => [op, percentile(r.figures.get(op) ?? [NaN], 50)])), names).toFixed(1);
  console.log(`\n| run | ${sides.map((s) => `${s.version} start / teardown (ms, p50 sums)`).join(' | ')} |`);
  console.log(`| --- | ${sides.map(() => '---').join(' | ')} |`);
  for (let i = 0; i < o.runs; i++) {
    console.log(`| ${i + 1} | ${sides.map((s) => (s.runs[i] ? `${sums(s.runs[i]!, START_OPS)} / ${sums(s.runs[i]!, TEARDOWN_OPS)}` : '-')).join(' | ')} |`);
  }
  console.log(`\nThe order of each run (ginkgo's seed): ${sides.map((s) => s.runs.map((r, i) => `${s.version} run ${i + 1}: ${r.order}`).join('; ')).join('; ')}.`);
}

function checkTargets(coracle: Reduced, containerd: Reduced | undefined): boolean {
  const ratio = (name: string, c: number, d: number | undefined, max: number): Target => ({ name, coracle: c, ...(d !== undefined ? { containerd: d } : {}), limit: { kind: 'ratio', max }, unit: 'ms' });
  // A sum is checked only where the run measured each of its operations (--skip).
  const sum = (name: string, ops: readonly string[], max: number): Target[] =>
    ops.every((op) => coracle.p50.has(op)) ? [ratio(`${name} (${ops.join(' + ')})`, sumOf(coracle.p50, ops), containerd && sumOf(containerd.p50, ops), max)] : [];
  const targets: Target[] = [
    ...sum('Start', START_OPS, START_MAX),
    ...sum('Teardown', TEARDOWN_OPS, TEARDOWN_MAX),
    ...[...coracle.p50.keys()].map((op) => ratio(op, coracle.p50.get(op)!, containerd?.p50.get(op), OPERATION_MAX)),
  ];
  return printTargets(`Issue 14's targets (p50, medians of ${coracle.runs.length} runs):`, targets);
}

runBench(options, 'node dist/bench/critest.js [--critest PATH] [--registry URL] [--n 20] [--runs 3] [--seed N] [--skip RE]', async (o, cleanups) => {
  const nets = await pickNetworks({ bridgePrefix: 'crbcrit', coracleOctet: 247, containerdOctet: 248 });
  const runners: Runner<RunResult>[] = [{ name: 'coracle', run: (c) => benchCoracle(c, o, nets.coracle) }];
  if (await onPath('containerd')) runners.push({ name: 'containerd', run: (c) => benchContainerd(c, o, nets.containerd) });
  else console.log('containerd: not on PATH, no comparison (to compare: apt-get install -y containerd)');
  const results = await alternate(cleanups, o.runs, runners);
  const side = (name: RuntimeName): Reduced | undefined => (results.get(name)?.length ? reduce(results.get(name)!) : undefined);
  const coracle = side('coracle')!;
  const containerd = side('containerd');
  printTables(o, containerd ? [coracle, containerd] : [coracle]);
  checkTargets(coracle, containerd);
  console.log(`\n${loadSummary()}`);
});
