/**
 * bench/lifecycle: the latency of a pod's whole life with one container in it, RPC by RPC
 * (RunPodSandbox, CreateContainer, StartContainer, StopContainer, RemoveContainer,
 * StopPodSandbox, RemovePodSandbox), and the memory that running pods cost (the daemon's and
 * the container monitors'), in coracle and, when it is installed, in containerd, through the
 * very same CRI client.
 *
 * Usage: node dist/bench/lifecycle.js [--rounds 30] [--pods 20]
 *
 * Each runtime gets a temp dir, a bridge and a /24 of its own and the same pod network as in
 * bench/pods (Debian's CNI plugins, the conflist coracle embeds). The container image is a
 * static busybox served by a registry of the bench's own (containerd's sandbox image too: a
 * busybox that sleeps), pulled before anything is timed. The container is a shell that
 * traps SIGTERM, so that StopContainer (timeout 2 s) is a real stop by the stop signal: each
 * round waits (untimed) until the shell has said it is ready, and checks after the stop that
 * it exited 0, not by the SIGKILL of the timeout.
 *
 * 1. 2 untimed warm-up rounds (which also check the pod's address), then `rounds` rounds, one
 *    after the other, each RPC timed on its own; "pod+container start" is Run + Create +
 *    Start of a round.
 * 2. Memory, after the rounds: with no pod, then with `pods` pods each running one
 *    container. The daemon's VmRSS (coracle's node process; the containerd process) and the
 *    monitors' (coracle: one conmon per container; containerd: one containerd-shim-runc-v2
 *    per pod), summed over the processes, with their PSS (shared pages split among those
 *    that map them) beside. containerd's pause processes are shown apart: coracle's pods
 *    have none.
 * 3. A leak check: mounts under its dir, veths on its bridge, address leases, cached CNI
 *    results, NAT rules for its subnet, pods and containers still listed, containers in its
 *    runc root, monitors still running.
 *
 * Everything it started is stopped, both bridges deleted and every temp dir removed, whatever
 * happens (Ctrl-C: the call in flight ends, then the teardown runs; a second one tears down
 * at once). For the comparison: `apt-get install -y containerd` (Debian's 1.6).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ContainerConfig } from '../src/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../src/generated/runtime/v1/PodSandboxConfig.js';
import type { CriClients } from '../test/helpers/cri-client.js';
import { buildImage, buildLayer, busyboxRootfsEntries, pushImage, type LayerEntry } from '../test/helpers/images.js';
import { podConfig } from '../test/helpers/pods.js';
import { startTestRegistry } from '../test/helpers/test-registry.js';
import {
  Cleanups,
  conmonsOf,
  containerdTempDir,
  coracleConfig,
  coracleTempDir,
  onPath,
  podsContainerdConfig,
  processesNamed,
  run,
  shimsOf,
  sleep,
  startContainerd,
  startCoracleDaemon,
} from './lib/containerd.js';
import { checkInterrupted, runWithTeardown } from './lib/teardown.js';
import { percentile, printTimings } from './lib/timings.js';
import { addNetworkCleanup, networkLeftovers, pickNetworks, reportLeaks, writeContainerdConflist, type Net, type NetworkFiles } from './lib/network.js';

const CNI_BIN_DIR = '/usr/lib/cni';
const WARMUP_ROUNDS = 2;
const RPC_DEADLINE_MS = 60_000;
/** StopContainer's timeout, in seconds: the shell exits at SIGTERM long before. */
const STOP_TIMEOUT_S = 2;
/** How long a started container has to say it is ready (its trap set). */
const READY_TIMEOUT_MS = 10_000;
/** Left to the processes before their memory is read. */
const SETTLE_MS = 2000;
const IMAGE_REPO = 'bench/busybox';
const PAUSE_REPO = 'bench/pause';
const TAG = '1';
const PAUSE_CMD = ['/bin/sleep', '2147483647'];
/**
 * pid 1 of its pid namespace, a shell gets no default action for SIGTERM: it traps it. The
 * sleep runs in the background and the shell waits for it with `wait`, which a trapped
 * signal interrupts: with `sleep 1` in the foreground the shell would run the trap only once
 * that sleep ends, and each stop would take up to a second more, of the container's own.
 */
const CONTAINER_CMD = ['/bin/sh', '-c', "trap 'exit 0' TERM; echo ready; while true; do sleep 1 & wait $!; done"];
const RPCS = ['RunPodSandbox', 'CreateContainer', 'StartContainer', 'StopContainer', 'RemoveContainer', 'StopPodSandbox', 'RemovePodSandbox'] as const;
type Rpc = (typeof RPCS)[number];
const START = 'pod+container start';
/** The rows of the figures: each RPC, and Run + Create + Start of a round. */
const ROWS = [...RPCS, START] as const;
type Timings = Record<(typeof ROWS)[number], number[]>;

interface Options {
  rounds: number;
  pods: number;
}

function options(): Options {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '30' }, pods: { type: 'string', default: '20' } } });
  const positive = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag}: expected a positive integer, got "${v}"`);
    return n;
  };
  return { rounds: positive('rounds', values.rounds), pods: positive('pods', values.pods) };
}

// ---------------------------------------------------------------------------------------
// Pods with one container

const opts = (): { deadline: number } => ({ deadline: Date.now() + RPC_DEADLINE_MS });
const ms = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e6;

/** What the runs of one runtime need to know. */
interface Target {
  name: string;
  clients: CriClients;
  net: Net;
  /** The container image, as pulled. */
  image: string;
  /** The pods' log dirs go under it, one per pod, made before the pod (as kubelet does). */
  logRoot: string;
}

interface RunningPod {
  podId: string;
  containerId: string;
  sandbox: PodSandboxConfig;
  logFile: string;
}

function containerConfig(image: string): ContainerConfig {
  return { metadata: { name: 'main', attempt: 0 }, image: { image }, command: CONTAINER_CMD, log_path: 'main.log' };
}

/** Stops and removes whatever containers and pods a runtime still has (a run cut short). */
function addPodsCleanup(cleanups: Cleanups, name: string, clients: CriClients): void {
  cleanups.add(`remove the containers and pods of ${name}`, async () => {
    for (const c of (await clients.runtime.ListContainers({}, opts())).containers) {
      await clients.runtime.StopContainer({ container_id: c.id, timeout: 0 }, opts());
      await clients.runtime.RemoveContainer({ container_id: c.id }, opts());
    }
    for (const pod of (await clients.runtime.ListPodSandbox({}, opts())).items) {
      await clients.runtime.StopPodSandbox({ pod_sandbox_id: pod.id }, opts());
      await clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod.id }, opts());
    }
  });
}

/** Waits until the container's shell has written "ready" to its log: its trap is set. */
async function waitReady(t: Target, pod: RunningPod): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const log = await readFile(pod.logFile, 'utf8').catch(() => '');
    if (/ stdout F ready$/m.test(log)) return;
    if (Date.now() > deadline) throw new Error(`${t.name}: container ${pod.containerId.slice(0, 12)} did not say "ready" within ${READY_TIMEOUT_MS / 1000} s (log: ${JSON.stringify(log)})`);
    await sleep(2);
  }
}

/**
 * A pod with its container started, each RPC timed into `t` when given. With `check`, the
 * pod's status must show an address of the runtime's subnet (untimed, after Run).
 */
async function startPod(target: Target, label: string, timings: Timings | undefined, check: boolean): Promise<RunningPod> {
  const { clients, name } = target;
  const podName = `life-${name}-${label}`;
  const logDir = join(target.logRoot, podName);
  await mkdir(logDir, { recursive: true });
  const sandbox = podConfig(podName, { metadata: { name: podName, namespace: 'bench', uid: randomUUID(), attempt: 0 }, log_directory: logDir });
  checkInterrupted();
  const t0 = process.hrtime.bigint();
  const { pod_sandbox_id: podId } = await clients.runtime.RunPodSandbox({ config: sandbox, runtime_handler: '' }, opts());
  const t1 = process.hrtime.bigint();
  if (check) {
    const ip = (await clients.runtime.PodSandboxStatus({ pod_sandbox_id: podId, verbose: false }, opts())).status?.network?.ip ?? '';
    if (!ip.startsWith(target.net.prefix)) throw new Error(`${name}: pod ${podId.slice(0, 12)} has address "${ip}", expected one of ${target.net.subnet}`);
  }
  checkInterrupted();
  const t2 = process.hrtime.bigint();
  const { container_id: containerId } = await clients.runtime.CreateContainer({ pod_sandbox_id: podId, config: containerConfig(target.image), sandbox_config: sandbox }, opts());
  const t3 = process.hrtime.bigint();
  checkInterrupted();
  const t4 = process.hrtime.bigint();
  await clients.runtime.StartContainer({ container_id: containerId }, opts());
  const t5 = process.hrtime.bigint();
  if (timings) {
    const d = (a: bigint, b: bigint): number => Number(b - a) / 1e6;
    timings.RunPodSandbox.push(d(t0, t1));
    timings.CreateContainer.push(d(t2, t3));
    timings.StartContainer.push(d(t4, t5));
    timings[START].push(d(t0, t1) + d(t2, t3) + d(t4, t5));
  }
  const pod = { podId, containerId, sandbox, logFile: join(logDir, 'main.log') };
  await waitReady(target, pod);
  return pod;
}

/** Stops and removes the container (checking that SIGTERM stopped it), then the pod. */
async function endPod(target: Target, pod: RunningPod, timings: Timings | undefined): Promise<void> {
  const { clients, name } = target;
  const time = async (rpc: Rpc, call: () => Promise<unknown>): Promise<void> => {
    checkInterrupted();
    const start = process.hrtime.bigint();
    await call();
    timings?.[rpc].push(ms(start));
  };
  await time('StopContainer', () => clients.runtime.StopContainer({ container_id: pod.containerId, timeout: STOP_TIMEOUT_S }, opts()));
  const s = (await clients.runtime.ContainerStatus({ container_id: pod.containerId, verbose: false }, opts())).status;
  if (s?.state !== 'CONTAINER_EXITED' || s.exit_code !== 0) {
    throw new Error(`${name}: container ${pod.containerId.slice(0, 12)} after StopContainer: ${s?.state} exit ${s?.exit_code} (${s?.reason}), expected EXITED exit 0 (its SIGTERM trap)`);
  }
  await time('RemoveContainer', () => clients.runtime.RemoveContainer({ container_id: pod.containerId }, opts()));
  await time('StopPodSandbox', () => clients.runtime.StopPodSandbox({ pod_sandbox_id: pod.podId }, opts()));
  await time('RemovePodSandbox', () => clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod.podId }, opts()));
}

function emptyTimings(): Timings {
  return {
    RunPodSandbox: [],
    CreateContainer: [],
    StartContainer: [],
    StopContainer: [],
    RemoveContainer: [],
    StopPodSandbox: [],
    RemovePodSandbox: [],
    [START]: [],
  };
}

/** `rounds` pods, one after the other, each started and ended; timed unless `warmup`. */
async function lifecycleRounds(target: Target, rounds: number, warmup: boolean): Promise<Timings> {
  const t = emptyTimings();
  for (let i = 0; i < rounds; i++) {
    const pod = await startPod(target, `${warmup ? 'w' : 'r'}${i}`, warmup ? undefined : t, warmup);
    await endPod(target, pod, warmup ? undefined : t);
  }
  return t;
}

// ---------------------------------------------------------------------------------------
// Figures

/** Resident and proportional set sizes, in KiB. */
interface Mem {
  rss: number;
  pss: number;
}

/** VmRSS (/proc/PID/status) and Pss (smaps_rollup) of each of `pids`, summed. */
async function memOf(pids: number[]): Promise<Mem> {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const r = /^VmRSS:\s+(\d+) kB/m.exec(status);
    if (!r) throw new Error(`process ${pid}: no VmRSS (a zombie?)`);
    rss += Number(r[1]);
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
    pss += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
  }
  return { rss, pss };
}

const mib = (kib: number, digits = 1): string => `${(kib / 1024).toFixed(digits)} MiB`;
const memText = (m: Mem, per = 1, digits = 1): string => `${mib(m.rss / per, digits)} (PSS ${mib(m.pss / per, digits)})`;

/** What one runtime's processes take, with no pod and with `pods` pods each running one container. */
interface Memory {
  pods: number;
  idle: Mem;
  daemon: Mem;
  monitors: Mem;
  monitorCount: number;
  /** containerd's pause processes (coracle's pods have none). */
  pause: Mem;
  pauseCount: number;
}

/** How a runtime's processes are found. */
interface Processes {
  daemonPid: number;
  /** The monitors of these containers of these pods. */
  monitors: (pods: RunningPod[]) => Promise<number[]>;
  /** Pause processes of these pods (none for coracle). */
  pauses: (pods: RunningPod[]) => Promise<number[]>;
  /** The monitor's name, for the figures. */
  monitorName: string;
}

async function measureMemory(target: Target, procs: Processes, pods: number): Promise<Memory> {
  await sleep(SETTLE_MS);
  const idle = await memOf([procs.daemonPid]);
  const running: RunningPod[] = [];
  // The pods of a run cut short go at cleanup (addPodsCleanup).
  for (let i = 0; i < pods; i++) running.push(await startPod(target, `m${i}`, undefined, false));
  await sleep(SETTLE_MS);
  checkInterrupted();
  const daemon = await memOf([procs.daemonPid]);
  const monitorPids = await procs.monitors(running);
  // One each: coracle's conmon per container, containerd's shim per pod.
  if (monitorPids.length !== pods) throw new Error(`${target.name}: ${monitorPids.length} ${procs.monitorName} processes for ${pods} pods with one container each, expected ${pods}`);
  const monitors = await memOf(monitorPids);
  const pausePids = await procs.pauses(running);
  const pause = await memOf(pausePids);
  for (const pod of running) await endPod(target, pod, undefined);
  return { pods, idle, daemon, monitors, monitorCount: monitorPids.length, pause, pauseCount: pausePids.length };
}

function printMemory(name: string, procs: Processes, m: Memory): void {
  console.log(`memory ${name} (VmRSS summed over the processes, PSS beside):`);
  const at = (n: number): string => `${n} pods:`.padEnd(`${m.pods} pods:`.length + 1);
  console.log(`  ${at(0)} daemon ${memText(m.idle)}`);
  const growth: Mem = { rss: m.daemon.rss - m.idle.rss, pss: m.daemon.pss - m.idle.pss };
  console.log(`  ${at(m.pods)} daemon ${memText(m.daemon)}, ${growth.rss >= 0 ? '+' : ''}${mib(growth.rss / m.pods, 2)} per pod`);
  console.log(
    `  ${at(m.pods)} monitors ${memText(m.monitors)} in ${m.monitorCount} ${procs.monitorName} processes, ${memText(m.monitors, m.pods, 2)} per pod (one container each)`,
  );
  if (m.pauseCount > 0) console.log(`  ${at(m.pods)} pause processes ${memText(m.pause)} in ${m.pauseCount}, ${memText(m.pause, m.pods, 2)} per pod`);
  const total = (growth.rss + m.monitors.rss + m.pause.rss) / m.pods;
  console.log(`  per pod with one container, all told (daemon growth + monitors${m.pauseCount > 0 ? ' + pause' : ''}): ${mib(total, 2)} RSS`);
}

// ---------------------------------------------------------------------------------------
// Leak check

/** Where a runtime keeps what a leak check looks at. */
interface Leftovers extends NetworkFiles {
  /** The runc root its containers (and sandboxes) are in. */
  runcRoot: string;
  /** Its monitors still running. */
  monitors: () => Promise<number[]>;
  monitorName: string;
}

/** Prints what a runtime left after its pods were removed; returns whether it left nothing. */
async function leakCheck(name: string, clients: CriClients, dir: string, net: Net, l: Leftovers): Promise<boolean> {
  const { counts, problems } = await networkLeftovers(dir, net, l);
  const pods = (await clients.runtime.ListPodSandbox({}, opts())).items;
  const containers = (await clients.runtime.ListContainers({}, opts())).containers;
  const runc = (await run('runc', ['--root', l.runcRoot, 'list', '-q']).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
  const monitors = await l.monitors();
  problems.push(
    ...pods.map((p) => `pod ${p.id.slice(0, 12)} still listed (${p.state})`),
    ...containers.map((c) => `container ${c.id.slice(0, 12)} still listed (${c.state})`),
    ...runc.map((id) => `runc container ${id} in ${l.runcRoot}`),
    ...monitors.map((pid) => `${l.monitorName} ${pid} still running`),
  );
  return reportLeaks(
    name,
    `${counts}, pods listed ${pods.length}, containers listed ${containers.length}, runc containers ${runc.length}, ${l.monitorName} processes ${monitors.length}`,
    problems,
  );
}

// ---------------------------------------------------------------------------------------
// The runtimes

interface Registry {
  host: string;
  url: string;
}

/**
 * The container image and containerd's sandbox image: the static busybox, its applets
 * symlinks rather than the helper's hardlinks (containerd applies a hardlink's header mode,
 * 0644, to the inode it shares with /bin/busybox, which could then not run).
 */
async function pushImages(registry: Registry): Promise<void> {
  const entries = (await busyboxRootfsEntries()).map((e): LayerEntry => (e.type === 'hardlink' ? { type: 'symlink', path: e.path, target: 'busybox' } : e));
  const layer = await buildLayer(entries);
  await pushImage(registry.url, IMAGE_REPO, buildImage({ layers: [layer], config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] } }), [TAG]);
  await pushImage(registry.url, PAUSE_REPO, buildImage({ layers: [layer], config: { Cmd: PAUSE_CMD } }), [TAG]);
}

interface Result {
  timings: Timings;
  memory: Memory;
  clean: boolean;
}

async function pull(name: string, clients: CriClients, image: string): Promise<void> {
  const pulled = await clients.image.PullImage({ image: { image } }, opts());
  if (!pulled.image_ref) throw new Error(`${name}: PullImage ${image} returned no image`);
}

async function benchRuntime(target: Target, procs: Processes, o: Options, version: string): Promise<{ timings: Timings; memory: Memory }> {
  await lifecycleRounds(target, WARMUP_ROUNDS, true);
  const timings = await lifecycleRounds(target, o.rounds, false);
  printTimings(`${version} (${o.rounds} rounds of a pod with one container, after ${WARMUP_ROUNDS} warm-up rounds):`, timings, ROWS);
  const memory = await measureMemory(target, procs, o.pods);
  printMemory(target.name, procs, memory);
  return { timings, memory };
}

async function benchCoracle(cleanups: Cleanups, registry: Registry, net: Net, o: Options): Promise<Result> {
  const dir = await coracleTempDir(cleanups, 'coracle-bench-lifecycle-');
  addNetworkCleanup(cleanups, net);
  // A conf dir of its own: coracle writes its embedded conflist there at start. The bench
  // registry over plain http; docker.io goes to a closed port, whatever happens.
  const { config, root, socket } = await coracleConfig(dir, { cniBinDirs: [CNI_BIN_DIR], net, registries: { [registry.host]: registry.url } });
  const { proc, clients } = await startCoracleDaemon(cleanups, config, socket, { detached: true });
  addPodsCleanup(cleanups, 'coracle', clients);
  checkInterrupted();
  const image = `${registry.host}/${IMAGE_REPO}:${TAG}`;
  await pull('coracle', clients, image);
  const target: Target = { name: 'coracle', clients, net, image, logRoot: join(dir, 'logs') };
  const procs: Processes = {
    daemonPid: proc.pid!,
    // conmon's -c is the container id; it daemonizes, so it is no child of the daemon.
    monitors: async (pods) => {
      const ids = new Set(pods.map((p) => p.containerId));
      return processesNamed('conmon', (argv) => ids.has(argv[argv.indexOf('-c') + 1] ?? ''));
    },
    pauses: async () => [],
    monitorName: 'conmon',
  };
  const version = await clients.runtime.Version({}, opts());
  const { timings, memory } = await benchRuntime(target, procs, o, `coracle ${version.runtime_version}`);
  // As src/daemon/compose.ts lays them out.
  const clean = await leakCheck('coracle', clients, dir, net, {
    ipamDir: join(root, 'cni', 'networks'),
    cacheDir: join(root, 'cni', 'results'),
    cachePrefix: '',
    runcRoot: join(dir, 'state', 'runtime', 'runc'),
    monitors: () => conmonsOf(dir),
    monitorName: 'conmon',
  });
  return { timings, memory, clean };
}

/** The children of `parents`, by /proc/PID/stat's ppid. */
async function childrenOf(parents: number[]): Promise<{ pid: number; argv: string[] }[]> {
  const want = new Set(parents);
  const out: { pid: number; argv: string[] }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, the last ")" ends it.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!want.has(ppid)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean);
    out.push({ pid: Number(entry), argv });
  }
  return out;
}

async function benchContainerd(cleanups: Cleanups, registry: Registry, net: Net, o: Options): Promise<Result> {
  const pause = `${registry.host}/${PAUSE_REPO}:${TAG}`;
  const dir = await containerdTempDir(cleanups, 'coracle-bench-lifecycle-containerd-');
  addNetworkCleanup(cleanups, net);
  // The same conflist as coracle's embedded one, with this runtime's names and lease dir.
  const { confDir, ipamDir } = await writeContainerdConflist(dir, net);
  const runcRoot = join(dir, 'runc');
  const config = podsContainerdConfig(dir, { registryHost: registry.host, cniBinDir: CNI_BIN_DIR, cniConfDir: confDir, pause, runcRoot: runcRoot });
  // Teardown, newest first: its containers and pods removed, containerd stopped, its bridge
  // deleted, then (containerdTempDir) whatever containers, shims and mounts it still left.
  const { proc, clients } = await startContainerd(cleanups, dir, config, { detached: true });
  addPodsCleanup(cleanups, 'containerd', clients);
  checkInterrupted();
  const image = `${registry.host}/${IMAGE_REPO}:${TAG}`;
  await pull('containerd', clients, pause);
  await pull('containerd', clients, image);
  const target: Target = { name: 'containerd', clients, net, image, logRoot: join(dir, 'logs') };
  const procs: Processes = {
    daemonPid: proc.pid!,
    // One shim per pod: the pod's containers share the shim of its sandbox.
    monitors: () => shimsOf(dir),
    // Each pod's sandbox container: the sleeping busybox, a child of the pod's shim.
    pauses: async (pods) => {
      const pids = (await childrenOf(await shimsOf(dir))).filter((c) => c.argv.join(' ') === PAUSE_CMD.join(' ')).map((c) => c.pid);
      if (pids.length !== pods.length) throw new Error(`containerd: ${pids.length} pause processes for ${pods.length} pods`);
      return pids;
    },
    monitorName: 'containerd-shim-runc-v2',
  };
  const version = await clients.runtime.Version({}, opts());
  const { timings, memory } = await benchRuntime(target, procs, o, `${version.runtime_name} ${version.runtime_version}`);
  // libcni's cache is host-wide: this network's entries are those named after it (its bridge).
  const clean = await leakCheck('containerd', clients, dir, net, {
    ipamDir,
    cacheDir: '/var/lib/cni/results',
    cachePrefix: `${net.bridge}-`,
    runcRoot: join(runcRoot, 'k8s.io'),
    monitors: () => shimsOf(dir),
    monitorName: 'containerd-shim-runc-v2',
  });
  return { timings, memory, clean };
}

function printRatios(coracle: Result, containerd: Result): void {
  const ratio = (a: number, b: number): string => (b > 0 ? (a / b).toFixed(2) : 'n/a');
  const p50 = ROWS.map((rpc) => `${rpc} ${ratio(percentile(containerd.timings[rpc], 50), percentile(coracle.timings[rpc], 50))}`);
  console.log(`containerd/coracle p50: ${p50.join(', ')}`);
  const c = coracle.memory;
  const d = containerd.memory;
  const perPod = (m: Memory): number => (m.daemon.rss - m.idle.rss + m.monitors.rss + m.pause.rss) / m.pods;
  console.log(
    `containerd/coracle memory (RSS): daemon with 0 pods ${ratio(d.idle.rss, c.idle.rss)}, daemon with ${d.pods} pods ${ratio(d.daemon.rss, c.daemon.rss)}, ` +
      `monitors per pod ${ratio(d.monitors.rss, c.monitors.rss)} (PSS ${ratio(d.monitors.pss, c.monitors.pss)}), ` +
      `daemon + monitors with ${d.pods} pods ${ratio(d.daemon.rss + d.monitors.rss, c.daemon.rss + c.monitors.rss)}, per pod all told ${ratio(perPod(d), perPod(c))}`,
  );
}

async function main(): Promise<void> {
  let o: Options;
  try {
    o = options();
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\nusage: node dist/bench/lifecycle.js [--rounds 30] [--pods 20]`);
    process.exitCode = 2;
    return;
  }
  const cleanups = new Cleanups();
  await runWithTeardown(cleanups, async () => {
    // Not bench/pods' names and subnets: both may run at once.
    const nets = await pickNetworks({ bridgePrefix: 'crlife', coracleOctet: 251, containerdOctet: 252 });
    const registry = await startTestRegistry({ scope: 'suite' });
    cleanups.add('stop registry', () => registry.stop());
    await pushImages(registry);
    checkInterrupted();
    const coracle = await benchCoracle(cleanups, registry, nets.coracle, o);
    let clean = coracle.clean;
    if (await onPath('containerd')) {
      const containerd = await benchContainerd(cleanups, registry, nets.containerd, o);
      clean &&= containerd.clean;
      printRatios(coracle, containerd);
    } else {
      console.log('containerd: not on PATH, no comparison (to compare: apt-get install -y containerd)');
    }
    if (!clean) throw new Error('a runtime leaked (see the leak checks above)');
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
