/**
 * bench/critest: critest's own benchmark mode (`critest -benchmark`, cri-tools' pod,
 * container and image lifecycle benchmarks) against coracle and, when it is installed,
 * containerd, in one run, with the figures of both side by side.
 *
 * Usage: node dist/bench/critest.js [--critest /opt/lab/bin/critest] [--registry http://127.0.0.1:5000] [--n 20]
 *
 * critest is not part of Coracle: build it outside the repo (DEVELOPERS.md) and serve its
 * images from ../shared/critest-env's registry (its README). Both runtimes map critest's
 * registry hosts to that registry with no fallback, and get a pod network of their own (the
 * conflist coracle embeds, Debian's plugins). `--n` pods, containers and images per
 * benchmark, one at a time. Each runtime's raw results stay in its temp dir only for the
 * run; the tables give p50, p95 and mean per operation, in milliseconds.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CriClients } from '../test/helpers/cri-client.js';
import {
  Cleanups,
  CRI_PLUGIN,
  containerdTempDir,
  coracleConfig,
  coracleTempDir,
  onPath,
  podsContainerdConfig,
  startContainerd,
  startCoracleDaemon,
} from './lib/containerd.js';
import { addNetworkCleanup, pickNetworks, writeContainerdConflist, type Net } from './lib/network.js';
import { runWithTeardown } from './lib/teardown.js';
import { mean, percentile } from './lib/timings.js';

const CNI_BIN_DIR = '/usr/lib/cni';
/** The hosts critest's images are named under. */
const CRITEST_HOSTS = ['registry.k8s.io', 'k8s.gcr.io', 'gcr.io', 'public.ecr.aws', 'docker.io'];

interface Options {
  critest: string;
  registry: string;
  n: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      critest: { type: 'string', default: '/opt/lab/bin/critest' },
      registry: { type: 'string', default: 'http://127.0.0.1:5000' },
      n: { type: 'string', default: '20' },
    },
  });
  const n = Number(values.n);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--n: expected a positive integer, got "${values.n}"`);
  return { critest: values.critest!, registry: values.registry!, n };
}

/** One operation's durations, in ms, per runtime. */
type Figures = Map<string, number[]>;

/** Runs critest's benchmarks against `socket`; returns every operation's durations. */
async function runCritest(o: Options, dir: string, socket: string): Promise<Figures> {
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
  await new Promise<void>((resolve, reject) => {
    execFile(
      o.critest,
      [
        '-benchmark',
        `-runtime-endpoint=unix://${socket}`,
        `-image-endpoint=unix://${socket}`,
        `-benchmarking-params-file=${params}`,
        `-benchmarking-output-dir=${out}`,
        '--ginkgo.no-color',
      ],
      { timeout: 30 * 60_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`critest -benchmark failed: ${err.message}\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`));
        else resolve();
      },
    );
  });
  const figures: Figures = new Map();
  for (const file of (await readdir(out)).filter((f) => f.endsWith('.json')).sort()) {
    const set = JSON.parse(await readFile(join(out, file), 'utf8')) as { operationsNames: string[]; datapoints: { operationsDurationsNs: number[] }[] };
    set.operationsNames.forEach((name, i) => {
      const ms = set.datapoints.map((d) => (d.operationsDurationsNs[i] ?? 0) / 1e6);
      figures.set(name, [...(figures.get(name) ?? []), ...ms]);
    });
  }
  return figures;
}

async function benchCoracle(cleanups: Cleanups, o: Options, net: Net): Promise<{ version: string; figures: Figures }> {
  const dir = await coracleTempDir(cleanups, 'coracle-bench-critest-');
  addNetworkCleanup(cleanups, net);
  const registries = Object.fromEntries(CRITEST_HOSTS.map((h) => [h, o.registry]));
  const { config, socket } = await coracleConfig(dir, { cniBinDirs: [CNI_BIN_DIR], net, registries });
  const { clients } = await startCoracleDaemon(cleanups, config, socket, { detached: true });
  addPodsCleanup(cleanups, 'coracle', clients);
  const v = await clients.runtime.Version({});
  return { version: `coracle ${v.runtime_version}`, figures: await runCritest(o, dir, socket) };
}

async function benchContainerd(cleanups: Cleanups, o: Options, net: Net): Promise<{ version: string; figures: Figures }> {
  const dir = await containerdTempDir(cleanups, 'coracle-bench-critest-containerd-');
  addNetworkCleanup(cleanups, net);
  const { confDir } = await writeContainerdConflist(dir, net);
  const registryHost = new URL(o.registry).host;
  const mirrors = CRITEST_HOSTS.map((h) => `[${CRI_PLUGIN}.registry.mirrors.${JSON.stringify(h)}]\n  endpoint = [${JSON.stringify(o.registry)}]\n`).join('\n');
  const config = podsContainerdConfig(dir, { registryHost, cniBinDir: CNI_BIN_DIR, cniConfDir: confDir, pause: `${registryHost}/pause:3.9`, runcRoot: join(dir, 'runc') });
  const { clients } = await startContainerd(cleanups, dir, `${config}\n${mirrors}`, { detached: true });
  addPodsCleanup(cleanups, 'containerd', clients);
  const v = await clients.runtime.Version({});
  return { version: `${v.runtime_name} ${v.runtime_version}`, figures: await runCritest(o, dir, join(dir, 'containerd.sock')) };
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

function printTable(runs: { version: string; figures: Figures }[]): void {
  const ops = [...new Set(runs.flatMap((r) => [...r.figures.keys()]))];
  const cell = (xs: number[] | undefined): string => (xs && xs.length ? `${percentile(xs, 50).toFixed(1)} / ${percentile(xs, 95).toFixed(1)} / ${mean(xs).toFixed(1)}` : '-');
  console.log(`| operation (ms: p50 / p95 / mean) | ${runs.map((r) => r.version).join(' | ')} |`);
  console.log(`| --- | ${runs.map(() => '---').join(' | ')} |`);
  for (const op of ops) console.log(`| ${op} | ${runs.map((r) => cell(r.figures.get(op))).join(' | ')} |`);
  console.log(`\nsamples per operation: ${runs.map((r) => `${r.version} ${Math.max(...[...r.figures.values()].map((x) => x.length))}`).join(', ')}`);
}

async function main(): Promise<void> {
  let o: Options;
  try {
    o = options();
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\nusage: node dist/bench/critest.js [--critest PATH] [--registry URL] [--n 20]`);
    process.exitCode = 2;
    return;
  }
  const cleanups = new Cleanups();
  await runWithTeardown(cleanups, async () => {
    const nets = await pickNetworks({ bridgePrefix: 'crbcrit', coracleOctet: 247, containerdOctet: 248 });
    const runs = [await benchCoracle(cleanups, o, nets.coracle)];
    if (await onPath('containerd')) runs.push(await benchContainerd(cleanups, o, nets.containerd));
    else console.log('containerd: not on PATH, no comparison (to compare: apt-get install -y containerd)');
    printTable(runs);
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
