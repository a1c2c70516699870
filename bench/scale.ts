/**
 * bench/scale: a busy node. `pods` pods (default 100) with one container each, all running,
 * in coracle and, when it is installed, in containerd, with the same pod network (as
 * bench/lifecycle: a bridge and a /24 each, Debian's CNI plugins, coracle's conflist).
 *
 * Usage: node dist/bench/scale.js [--pods 100] [--churn 60] [--samples 200]
 *
 * 1. Quiet: ListPodSandbox and ListContainers `samples` times each (target p50 <= 2 ms),
 *    ListPodSandboxStats and ListContainerStats of every pod and container 20 times each
 *    (target p50 <= 50 ms for the first), and the per-call cost of PodSandboxStatus,
 *    ContainerStatus, ImageStatus and ListImages (`samples` each).
 * 2. Load, for `churn` seconds: a kubelet-like poller (bench/lib/kubelet-load: relist every
 *    second with the status of what changed, stats every 10 s) while pods churn (removed and
 *    made again with their container, one after the other). Every RPC's p50/p99/max by
 *    method; target: no p99 over 1 s.
 * 3. Everything removed, and a leak check as bench/lifecycle's.
 *
 * The load average and the CPU stolen (bench/lib/loadavg) are printed at the start and end of
 * each runtime's run, and summed up at the end; each figure with its target and, with
 * containerd, the coracle/containerd ratio. Everything it started is
 * stopped and removed whatever happens (Ctrl-C: the call in flight ends, then the teardown
 * runs; a second one tears down at once).
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { removeCgroupTree } from '../test/helpers/cgroups.js';
import type { CriClients } from '../test/helpers/cri-client.js';
import { podConfig } from '../test/helpers/pods.js';
import { containerdTempDir, podsContainerdConfig, shimsOf, startContainerd } from './lib/containerd.js';
import { conmonsOf, coracleConfig, coracleTempDir, startCoracleDaemon } from './lib/coracle-daemon.js';
import { Cleanups, onPath } from './lib/host.js';
import { IMAGE_REPO, PAUSE_REPO, startBenchRegistry, TAG, type Registry } from './lib/bench-images.js';
import { leakCheck, type Leftovers } from './lib/lifecycle-runtimes.js';
import { loadSummary, printLoad } from './lib/loadavg.js';
import { churnUnderPoller, Latencies, opts, printLatencies, type BenchPod, type PodMaker } from './lib/kubelet-load.js';
import { addNetworkCleanup, pickNetworks, writeContainerdConflist, type Net } from './lib/network.js';
import { countOptions } from './lib/options.js';
import { checkInterrupted, runBench } from './lib/teardown.js';

const CNI_BIN_DIR = '/usr/lib/cni';
const STOP_TIMEOUT_S = 2;
const STATS_SAMPLES = 20;
/**
 * pid 1 with a SIGTERM trap, so that StopContainer is a stop by the signal (see
 * bench/lifecycle), and otherwise idle, as most of a node's pods are: one sleep it waits for
 * (a trapped signal interrupts `wait`), not one a second, which with 100 pods would keep the
 * 2 cores busy starting processes and leave no quiet phase to measure.
 */
const CONTAINER_CMD = ['/bin/sh', '-c', "trap 'exit 0' TERM; sleep 2147483647 & wait $!"];
/** The quiet figures with their targets (ms, p50). */
const QUIET = ['ListPodSandbox', 'ListContainers', 'ListPodSandboxStats', 'ListContainerStats', 'PodSandboxStatus', 'ContainerStatus', 'ImageStatus', 'ListImages'] as const;
const TARGETS: Partial<Record<(typeof QUIET)[number], number>> = { ListPodSandbox: 2, ListContainers: 2, ListPodSandboxStats: 50 };

interface Options {
  pods: number;
  churn: number;
  samples: number;
}

const options = (): Options => countOptions({ pods: 100, churn: 60, samples: 200 });

/** One runtime under test. */
interface Target {
  name: string;
  clients: CriClients;
  net: Net;
  image: string;
  logRoot: string;
  /** kubelet's cgroupfs parents go under it: /<top>/kubepods/besteffort/pod<uid>. */
  cgroupTop: string;
}

/** Makes and ends pods with one container of `t`'s image, as kubelet would, each RPC timed. */
function podMaker(target: Target): PodMaker {
  const r = target.clients.runtime;
  return {
    async start(label, t) {
      const podName = `scale-${target.name}-${label}`;
      const logDir = join(target.logRoot, podName);
      await mkdir(logDir, { recursive: true });
      const uid = randomUUID();
      // A cgroup parent, as kubelet gives every pod (containerd has no pod stats without one).
      const linux = { cgroup_parent: `${target.cgroupTop}/kubepods/besteffort/pod${uid}` };
      const sandbox = podConfig(podName, { metadata: { name: podName, namespace: 'bench', uid, attempt: 0 }, log_directory: logDir, linux });
      const { pod_sandbox_id: podId } = await t.time('RunPodSandbox', () => r.RunPodSandbox({ config: sandbox, runtime_handler: '' }, opts()));
      const config = { metadata: { name: 'main', attempt: 0 }, image: { image: target.image }, command: CONTAINER_CMD, log_path: 'main.log' };
      const { container_id: containerId } = await t.time('CreateContainer', () => r.CreateContainer({ pod_sandbox_id: podId, config, sandbox_config: sandbox }, opts()));
      await t.time('StartContainer', () => r.StartContainer({ container_id: containerId }, opts()));
      return { podId, containerId };
    },
    async end(pod, t) {
      await t.time('StopContainer', () => r.StopContainer({ container_id: pod.containerId, timeout: STOP_TIMEOUT_S }, opts()));
      await t.time('RemoveContainer', () => r.RemoveContainer({ container_id: pod.containerId }, opts()));
      await t.time('StopPodSandbox', () => r.StopPodSandbox({ pod_sandbox_id: pod.podId }, opts()));
      await t.time('RemovePodSandbox', () => r.RemovePodSandbox({ pod_sandbox_id: pod.podId }, opts()));
    },
  };
}

/** Stops and removes whatever containers and pods a runtime still has (a run cut short). */
function addPodsCleanup(cleanups: Cleanups, name: string, clients: CriClients): void {
  cleanups.add(`remove the containers and pods of ${name}`, async () => {
    // Removing the pods removes their containers: stopped first, so that none waits for a grace.
    for (const c of (await clients.runtime.ListContainers({}, opts())).containers) {
      await clients.runtime.StopContainer({ container_id: c.id, timeout: 0 }, opts()).catch(() => undefined);
    }
    for (const pod of (await clients.runtime.ListPodSandbox({}, opts())).items) {
      await clients.runtime.StopPodSandbox({ pod_sandbox_id: pod.id }, opts());
      await clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod.id }, opts());
    }
  });
}

/** `n` calls of `call`, one after the other, timed as `method`. */
async function sample(t: Latencies, method: string, n: number, call: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i++) {
    checkInterrupted();
    await t.time(method, call);
  }
}

/** The quiet figures: the lists and stats of every pod, and the per-call cost of the Status calls. */
async function quiet(target: Target, pods: BenchPod[], o: Options): Promise<Latencies> {
  const { runtime: r, image: i } = target.clients;
  const t = new Latencies();
  const pod = pods[0]!;
  await sample(t, 'ListPodSandbox', o.samples, () => r.ListPodSandbox({}, opts()));
  await sample(t, 'ListContainers', o.samples, () => r.ListContainers({}, opts()));
  await sample(t, 'ListPodSandboxStats', STATS_SAMPLES, () => r.ListPodSandboxStats({}, opts()));
  await sample(t, 'ListContainerStats', STATS_SAMPLES, () => r.ListContainerStats({}, opts()));
  await sample(t, 'PodSandboxStatus', o.samples, () => r.PodSandboxStatus({ pod_sandbox_id: pod.podId, verbose: false }, opts()));
  await sample(t, 'ContainerStatus', o.samples, () => r.ContainerStatus({ container_id: pod.containerId, verbose: false }, opts()));
  await sample(t, 'ImageStatus', o.samples, () => i.ImageStatus({ image: { image: target.image }, verbose: false }, opts()));
  await sample(t, 'ListImages', o.samples, () => i.ListImages({}, opts()));
  return t;
}

/** Figures of one runtime's run. */
interface Result {
  quiet: Latencies;
  load: Latencies;
  clean: boolean;
}

async function benchRuntime(target: Target, o: Options, leftovers: Omit<Leftovers, 'monitorName'> & { dir: string }): Promise<Result> {
  const { clients, name } = target;
  await printLoad(`at ${name}'s start`);
  const maker = podMaker(target);
  const setup = new Latencies();
  const pods: BenchPod[] = [];
  const t0 = Date.now();
  for (let k = 0; k < o.pods; k++) {
    checkInterrupted();
    pods.push(await maker.start(`p${k}`, setup));
  }
  const running = (await clients.runtime.ListContainers({ filter: { state: { state: 'CONTAINER_RUNNING' } } }, opts())).containers.length;
  if (running !== o.pods) throw new Error(`${name}: ${running} containers running after starting ${o.pods}`);
  const podIp = (await clients.runtime.PodSandboxStatus({ pod_sandbox_id: pods[0]!.podId, verbose: false }, opts())).status?.network?.ip ?? '';
  if (!podIp.startsWith(target.net.prefix)) throw new Error(`${name}: pod has address "${podIp}", expected one of ${target.net.subnet}`);
  console.log(`${name}: ${o.pods} pods with one container each running, made in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const q = await quiet(target, pods, o);
  printQuiet(`${name}, quiet, ${o.pods} pods running:`, q);
  const load = new Latencies();
  const runs = await churnUnderPoller(clients, maker, pods, o.churn, load);
  console.log(`${name}: ${o.churn} s of churn: ${runs.churned} pods ended and made again, ${runs.relists} relists, ${runs.statsRuns} stats runs`);
  const ok = printLatencies(`${name}, under the poller with pods churning, every RPC:`, load);
  console.log(`${name}: no RPC's p99 over 1 s: ${ok ? 'met' : 'MISSED'}`);
  for (const pod of pods) await maker.end(pod, setup);
  await printLoad(`at ${name}'s end`);
  return { quiet: q, load, clean: await leakCheck(target.name, target.clients, leftovers.dir, target.net, { ...leftovers, monitorName: 'monitor' }) };
}

function printQuiet(title: string, t: Latencies, other?: Latencies): void {
  console.log(title);
  for (const m of QUIET) {
    const f = t.figures(m);
    const target = TARGETS[m];
    const verdict = target === undefined ? '' : ` target p50 <= ${target} ms: ${f.p50 <= target ? 'met' : 'MISSED'}`;
    const ratio = other ? `, coracle/containerd p50 ${(f.p50 / other.figures(m).p50).toFixed(2)}x` : '';
    console.log(`  ${m.padEnd(21)} n ${String(f.n).padStart(4)}  p50 ${f.p50.toFixed(2).padStart(8)} ms  p99 ${f.p99.toFixed(2).padStart(8)} ms  max ${f.max.toFixed(2).padStart(8)} ms${verdict}${ratio}`);
  }
}



/** The container image and containerd's sandbox image: the static busybox (symlinked applets, as bench/lifecycle). */

async function pull(name: string, clients: CriClients, image: string): Promise<void> {
  if (!(await clients.image.PullImage({ image: { image } }, opts())).image_ref) throw new Error(`${name}: PullImage ${image} returned no image`);
}

async function benchCoracle(cleanups: Cleanups, registry: Registry, net: Net, o: Options, cgroupTop: string): Promise<Result> {
  const dir = await coracleTempDir(cleanups, 'coracle-bench-scale-');
  addNetworkCleanup(cleanups, net);
  const { config, root, socket } = await coracleConfig(dir, { cniBinDirs: [CNI_BIN_DIR], net, registries: { [registry.host]: registry.url } });
  const { clients } = await startCoracleDaemon(cleanups, config, socket, { detached: true });
  addPodsCleanup(cleanups, 'coracle', clients);
  checkInterrupted();
  const image = `${registry.host}/${IMAGE_REPO}:${TAG}`;
  await pull('coracle', clients, image);
  const target: Target = { name: 'coracle', clients, net, image, logRoot: join(dir, 'logs'), cgroupTop };
  // As src/daemon/compose.ts lays them out.
  return benchRuntime(target, o, {
    dir,
    ipamDir: join(root, 'cni', 'networks'),
    cacheDir: join(root, 'cni', 'results'),
    cachePrefix: '',
    runcRoot: join(dir, 'state', 'runtime', 'runc'),
    monitors: () => conmonsOf(dir),
  });
}

async function benchContainerd(cleanups: Cleanups, registry: Registry, net: Net, o: Options, cgroupTop: string): Promise<Result> {
  const dir = await containerdTempDir(cleanups, 'coracle-bench-scale-containerd-');
  addNetworkCleanup(cleanups, net);
  const { confDir, ipamDir } = await writeContainerdConflist(dir, net);
  const runcRoot = join(dir, 'runc');
  const pause = `${registry.host}/${PAUSE_REPO}:${TAG}`;
  const config = podsContainerdConfig(dir, { registryHost: registry.host, cniBinDir: CNI_BIN_DIR, cniConfDir: confDir, pause, runcRoot });
  const { clients } = await startContainerd(cleanups, dir, config, { detached: true });
  addPodsCleanup(cleanups, 'containerd', clients);
  checkInterrupted();
  const image = `${registry.host}/${IMAGE_REPO}:${TAG}`;
  await pull('containerd', clients, pause);
  await pull('containerd', clients, image);
  const target: Target = { name: 'containerd', clients, net, image, logRoot: join(dir, 'logs'), cgroupTop };
  // libcni's cache is host-wide: this network's entries are those named after its bridge.
  return benchRuntime(target, o, { dir, ipamDir, cacheDir: '/var/lib/cni/results', cachePrefix: `${net.bridge}-`, runcRoot: join(runcRoot, 'k8s.io'), monitors: () => shimsOf(dir) });
}

runBench(options, 'node dist/bench/scale.js [--pods 100] [--churn 60] [--samples 200]', async (o, cleanups) => {
  // Names and subnets of its own: it may run beside bench/pods and bench/lifecycle.
  const nets = await pickNetworks({ bridgePrefix: 'crscale', coracleOctet: 245, containerdOctet: 246 });
  // runc removes a container's own cgroup, never its parents: they go last, once the pods have.
  const cgroupTop = `/coracle-bench-scale-${process.pid}`;
  cleanups.add(`remove cgroups under ${cgroupTop}`, () => removeCgroupTree(cgroupTop));
  const registry = await startBenchRegistry(cleanups);
  await printLoad('at the start');
  const coracle = await benchCoracle(cleanups, registry, nets.coracle, o, `${cgroupTop}/coracle`);
  let clean = coracle.clean;
  if (await onPath('containerd')) {
    const containerd = await benchContainerd(cleanups, registry, nets.containerd, o, `${cgroupTop}/containerd`);
    clean &&= containerd.clean;
    printQuiet(`coracle, quiet, ${o.pods} pods, with the ratio to containerd:`, coracle.quiet, containerd.quiet);
    printLatencies(`coracle under load, with the p99 ratio to containerd:`, coracle.load, containerd.load);
  } else {
    console.log('containerd: not on PATH, no comparison (to compare: apt-get install -y containerd)');
  }
  await printLoad('at the end');
  console.log(`\n${loadSummary()}`);
  if (!clean) throw new Error('a runtime leaked (see the leak checks above)');
});
