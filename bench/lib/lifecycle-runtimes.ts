/**
 * bench/lib/lifecycle-runtimes: one run of bench/lifecycle on one runtime (coracle or
 * containerd): a fresh daemon on a temp dir, its memory right after it serves, the timed
 * rounds, the churn of pods with the memory of the pods up and after, and the leak check.
 * What it starts goes into the run's cleanups.
 */
import { join } from 'node:path';
import type { CriClients } from '../../test/helpers/cri-client.js';
import { containerdTempDir, podsContainerdConfig, shimsOf, startContainerd } from './containerd.js';
import { conmonsOf, coracleConfig, coracleTempDir, startCoracleDaemon } from './coracle-daemon.js';
import { type Cleanups, processesNamed, run, sleep } from './host.js';
import { childrenOf, fdCount, memOf, memText, mib, SETTLE_MS, type Mem } from './memory.js';
import { addNetworkCleanup, networkLeftovers, reportLeaks, writeContainerdConflist, type Net, type NetworkFiles } from './network.js';
import { addPodsCleanup, endPod, lifecycleRounds, opts, ROWS, startPod, type PodTarget, type RunningPod, type Timings } from './pod-rounds.js';
import { checkInterrupted } from './teardown.js';
import { IMAGE_REPO, PAUSE_CMD, PAUSE_REPO, TAG, type Registry } from './bench-images.js';
import { printTimings } from './timings.js';

const CNI_BIN_DIR = '/usr/lib/cni';
const WARMUP_ROUNDS = 2;

export interface RunOptions {
  rounds: number;
  pods: number;
  churn: number;
}

/** What one runtime's processes take in one run. */
export interface Memory {
  /** The daemon right after it serves, before the pull. */
  fresh: Mem;
  /** The daemon after the timed rounds, with no pod. */
  idle: Mem;
  /** With `pods` pods up, in the last round of the churn. */
  daemon: Mem;
  monitors: Mem;
  monitorCount: number;
  monitorName: string;
  /** containerd's pause processes (coracle's pods have none). */
  pause: Mem;
  pauseCount: number;
  /** The daemon after the churn. */
  after: Mem;
  fds: { fresh: number; idle: number; after: number };
}

export interface RunResult {
  version: string;
  timings: Timings;
  memory: Memory;
  clean: boolean;
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

/** Where a runtime keeps what a leak check looks at. */
export interface Leftovers extends NetworkFiles {
  /** The runc root its containers (and sandboxes) are in. */
  runcRoot: string;
  /** Its monitors still running. */
  monitors: () => Promise<number[]>;
  monitorName: string;
}

/** Prints what a runtime left after its pods were removed; returns whether it left nothing. */
export async function leakCheck(name: string, clients: CriClients, dir: string, net: Net, l: Leftovers): Promise<boolean> {
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

async function pull(name: string, clients: CriClients, image: string): Promise<void> {
  const pulled = await clients.image.PullImage({ image: { image } }, opts());
  if (!pulled.image_ref) throw new Error(`${name}: PullImage ${image} returned no image`);
}

/**
 * `o.churn` rounds of `o.pods` pods started, then ended; in the last, with the pods up, the
 * memory of the daemon, the monitors and the pause processes. The pods of a run cut short go
 * at cleanup (addPodsCleanup).
 */
async function churn(target: PodTarget, procs: Processes, o: RunOptions): Promise<Pick<Memory, 'daemon' | 'monitors' | 'monitorCount' | 'pause' | 'pauseCount'>> {
  let up: Pick<Memory, 'daemon' | 'monitors' | 'monitorCount' | 'pause' | 'pauseCount'> | undefined;
  for (let round = 1; round <= o.churn; round++) {
    const running: RunningPod[] = [];
    for (let i = 0; i < o.pods; i++) running.push(await startPod(target, `c${round}-${i}`, undefined, false));
    if (round === o.churn) {
      await sleep(SETTLE_MS);
      checkInterrupted();
      const monitorPids = await procs.monitors(running);
      // One each: coracle's conmon per container, containerd's shim per pod.
      if (monitorPids.length !== o.pods) throw new Error(`${target.name}: ${monitorPids.length} ${procs.monitorName} processes for ${o.pods} pods with one container each, expected ${o.pods}`);
      const pausePids = await procs.pauses(running);
      up = { daemon: await memOf([procs.daemonPid]), monitors: await memOf(monitorPids), monitorCount: monitorPids.length, pause: await memOf(pausePids), pauseCount: pausePids.length };
    }
    for (const pod of running) await endPod(target, pod, undefined);
  }
  return up!;
}

function printMemory(name: string, o: RunOptions, m: Memory): void {
  console.log(`memory ${name} (VmRSS summed over the processes, PSS beside):`);
  console.log(`  fresh daemon: ${memText(m.fresh)}, ${m.fds.fresh} fds`);
  console.log(`  after the rounds, 0 pods: daemon ${memText(m.idle)}, ${m.fds.idle} fds`);
  const growth = m.daemon.rss - m.idle.rss;
  console.log(`  ${o.pods} pods up: daemon ${memText(m.daemon)}, ${growth >= 0 ? '+' : ''}${mib(growth / o.pods, 2)} per pod`);
  console.log(`  ${o.pods} pods up: monitors ${memText(m.monitors)} in ${m.monitorCount} ${m.monitorName} processes, ${memText(m.monitors, o.pods, 2)} per pod`);
  if (m.pauseCount > 0) console.log(`  ${o.pods} pods up: pause processes ${memText(m.pause)} in ${m.pauseCount}, ${memText(m.pause, o.pods, 2)} per pod`);
  console.log(`  after ${o.churn * o.pods} pods came and went: daemon ${memText(m.after)}, ${m.fds.after} fds`);
}

/** The rounds, the churn and the memory figures of one runtime, once it serves with its image pulled. */
async function benchRuntime(target: PodTarget, procs: Processes, o: RunOptions, version: string, fresh: { mem: Mem; fds: number }): Promise<{ timings: Timings; memory: Memory }> {
  await lifecycleRounds(target, WARMUP_ROUNDS, true);
  const timings = await lifecycleRounds(target, o.rounds, false);
  printTimings(`${version} (${o.rounds} rounds of a pod with one container, after ${WARMUP_ROUNDS} warm-up rounds):`, timings, ROWS);
  await sleep(SETTLE_MS);
  const idle = await memOf([procs.daemonPid]);
  const idleFds = await fdCount(procs.daemonPid);
  const up = await churn(target, procs, o);
  await sleep(SETTLE_MS);
  const memory: Memory = { fresh: fresh.mem, idle, ...up, monitorName: procs.monitorName, after: await memOf([procs.daemonPid]), fds: { fresh: fresh.fds, idle: idleFds, after: await fdCount(procs.daemonPid) } };
  printMemory(target.name, o, memory);
  return { timings, memory };
}

const freshOf = async (pid: number): Promise<{ mem: Mem; fds: number }> => ({ mem: await memOf([pid]), fds: await fdCount(pid) });

export async function benchCoracle(cleanups: Cleanups, registry: Registry, net: Net, o: RunOptions): Promise<RunResult> {
  const dir = await coracleTempDir(cleanups, 'coracle-bench-lifecycle-');
  addNetworkCleanup(cleanups, net);
  // A conf dir of its own: coracle writes its embedded conflist there at start. The bench
  // registry over plain http; docker.io goes to a closed port, whatever happens.
  const { config, root, socket } = await coracleConfig(dir, { cniBinDirs: [CNI_BIN_DIR], net, registries: { [registry.host]: registry.url } });
  const { proc, clients } = await startCoracleDaemon(cleanups, config, socket, { detached: true });
  // Right after it serves: one answer, then the figure.
  const v = await clients.runtime.Version({}, opts());
  const fresh = await freshOf(proc.pid!);
  addPodsCleanup(cleanups, 'coracle', clients);
  checkInterrupted();
  const image = `${registry.host}/${IMAGE_REPO}:${TAG}`;
  await pull('coracle', clients, image);
  const target: PodTarget = { name: 'coracle', clients, net, image, logRoot: join(dir, 'logs') };
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
  const version = `Coracle ${v.runtime_version}`;
  const { timings, memory } = await benchRuntime(target, procs, o, version, fresh);
  // As src/daemon/compose.ts lays them out.
  const clean = await leakCheck('coracle', clients, dir, net, {
    ipamDir: join(root, 'cni', 'networks'),
    cacheDir: join(root, 'cni', 'results'),
    cachePrefix: '',
    runcRoot: join(dir, 'state', 'runtime', 'runc'),
    monitors: () => conmonsOf(dir),
    monitorName: 'conmon',
  });
  return { version, timings, memory, clean };
}

export async function benchContainerd(cleanups: Cleanups, registry: Registry, net: Net, o: RunOptions): Promise<RunResult> {
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
  // startContainerd returns once CRI answered (Version): the figure right after it serves.
  const fresh = await freshOf(proc.pid!);
  addPodsCleanup(cleanups, 'containerd', clients);
  checkInterrupted();
  const image = `${registry.host}/${IMAGE_REPO}:${TAG}`;
  await pull('containerd', clients, pause);
  await pull('containerd', clients, image);
  const target: PodTarget = { name: 'containerd', clients, net, image, logRoot: join(dir, 'logs') };
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
  const v = await clients.runtime.Version({}, opts());
  const version = `${v.runtime_name} ${v.runtime_version}`;
  const { timings, memory } = await benchRuntime(target, procs, o, version, fresh);
  // libcni's cache is host-wide: this network's entries are those named after it (its bridge).
  const clean = await leakCheck('containerd', clients, dir, net, {
    ipamDir,
    cacheDir: '/var/lib/cni/results',
    cachePrefix: `${net.bridge}-`,
    runcRoot: join(runcRoot, 'k8s.io'),
    monitors: () => shimsOf(dir),
    monitorName: 'containerd-shim-runc-v2',
  });
  return { version, timings, memory, clean };
}
