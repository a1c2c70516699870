/**
 * bench/pods: the latency of a pod sandbox's life over CRI (RunPodSandbox, StopPodSandbox,
 * RemovePodSandbox, one pod after the other) in coracle and, when it is installed, in
 * containerd, through the very same CRI client.
 *
 * Usage: node dist/bench/pods.js [--pods 50]
 *
 * Each runtime gets a temp dir, a bridge and a /24 of its own and the same kind of pod
 * network: Debian's CNI plugins (/usr/lib/cni), bridge + host-local + portmap with ipMasq,
 * which is the conflist coracle embeds (containerd is given a copy with its own names). Both
 * are warmed up with 2 untimed rounds (which also check that a pod gets an address of its
 * subnet); then each RPC of N rounds is timed on its own. containerd runs its sandboxes as
 * pause containers: its sandbox image is a static busybox sleeping, served by a registry of
 * the bench's own and pulled before the timing. For the comparison: `apt-get install -y
 * containerd` (Debian's 1.6).
 *
 * Afterwards it checks that neither runtime leaked anything: mounts under its dir, veths on
 * its bridge, address leases, NAT rules for its subnet, pods still listed. Everything it
 * started is stopped, both bridges deleted and every temp dir removed, whatever happens
 * (Ctrl-C: the call in flight ends, then the teardown runs; a second one tears down at once).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CriClients } from '../test/helpers/cri-client.js';
import { buildImage, buildLayer, busyboxRootfsEntries, pushImage, type LayerEntry } from '../test/helpers/images.js';
import { podConfig } from '../test/helpers/pods.js';
import { startTestRegistry } from '../test/helpers/test-registry.js';
import { containerdTempDir, podsContainerdConfig, startContainerd } from './lib/containerd.js';
import { coracleConfig, startCoracle } from './lib/coracle-daemon.js';
import { Cleanups, onPath, unmountAll } from './lib/host.js';
import { countOptions } from './lib/options.js';
import { checkInterrupted, runBench } from './lib/teardown.js';
import { percentile, printTimings } from './lib/timings.js';
import { addNetworkCleanup, networkLeftovers, pickNetworks, reportLeaks, writeContainerdConflist, type Net, type NetworkFiles } from './lib/network.js';

const CNI_BIN_DIR = '/usr/lib/cni';
const WARMUP_ROUNDS = 2;
const RPC_DEADLINE_MS = 60_000;
const PAUSE_REPO = 'bench/pause';
const PAUSE_TAG = '1';
const RPCS = ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox'] as const;
type Rpc = (typeof RPCS)[number];
type Timings = Record<Rpc, number[]>;

const options = (): { pods: number } => countOptions({ pods: 50 });

/** Stops and removes whatever pods a runtime still has (a run cut short). */
function addPodsCleanup(cleanups: Cleanups, name: string, clients: CriClients): void {
  cleanups.add(`remove the pods of ${name}`, async () => {
    const opts = { deadline: Date.now() + RPC_DEADLINE_MS };
    for (const pod of (await clients.runtime.ListPodSandbox({}, opts)).items) {
      await clients.runtime.StopPodSandbox({ pod_sandbox_id: pod.id }, opts);
      await clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod.id }, opts);
    }
  });
}

const ms = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e6;

/**
 * `rounds` pods, one after the other: Run, Stop, Remove, each timed on its own. With
 * `check`, each pod's status must show an address of `net` (untimed, between Run and Stop).
 */
async function podRounds(name: string, clients: CriClients, net: Net, rounds: number, check: boolean): Promise<Timings> {
  const t: Timings = { RunPodSandbox: [], StopPodSandbox: [], RemovePodSandbox: [] };
  const opts = (): { deadline: number } => ({ deadline: Date.now() + RPC_DEADLINE_MS });
  for (let i = 0; i < rounds; i++) {
    checkInterrupted();
    const config = podConfig(`bench-${name}-${i}`, { metadata: { name: `bench-${name}-${i}`, namespace: 'bench', uid: randomUUID(), attempt: 0 } });
    let start = process.hrtime.bigint();
    const { pod_sandbox_id: id } = await clients.runtime.RunPodSandbox({ config, runtime_handler: '' }, opts());
    t.RunPodSandbox.push(ms(start));
    if (check) {
      const ip = (await clients.runtime.PodSandboxStatus({ pod_sandbox_id: id, verbose: false }, opts())).status?.network?.ip ?? '';
      if (!ip.startsWith(net.prefix)) throw new Error(`${name}: pod ${id.slice(0, 12)} has address "${ip}", expected one of ${net.subnet}`);
    }
    checkInterrupted();
    start = process.hrtime.bigint();
    await clients.runtime.StopPodSandbox({ pod_sandbox_id: id }, opts());
    t.StopPodSandbox.push(ms(start));
    checkInterrupted();
    start = process.hrtime.bigint();
    await clients.runtime.RemovePodSandbox({ pod_sandbox_id: id }, opts());
    t.RemovePodSandbox.push(ms(start));
  }
  return t;
}

/** Prints what a runtime left after its pods were removed; returns whether it left nothing. */
async function leakCheck(name: string, clients: CriClients, dir: string, net: Net, files: NetworkFiles): Promise<boolean> {
  const { counts, problems } = await networkLeftovers(dir, net, files);
  const pods = (await clients.runtime.ListPodSandbox({})).items;
  problems.push(...pods.map((p) => `pod ${p.id.slice(0, 12)} still listed (${p.state})`));
  return reportLeaks(name, `${counts}, pods listed ${pods.length}`, problems);
}

interface Result {
  timings: Timings;
  clean: boolean;
}

async function benchCoracle(cleanups: Cleanups, net: Net, pods: number): Promise<Result> {
  const dir = await mkdtemp(join(tmpdir(), 'coracle-bench-pods-'));
  cleanups.add(`remove ${dir}`, async () => {
    await unmountAll(dir);
    await rm(dir, { recursive: true, force: true });
  });
  addNetworkCleanup(cleanups, net);
  // A conf dir of its own: coracle writes its embedded conflist there at start. No registry
  // is needed: docker.io goes to a closed port, whatever happens.
  const { config, root, socket } = await coracleConfig(dir, { cniBinDirs: [CNI_BIN_DIR], net });
  const clients = await startCoracle(cleanups, config, socket, { detached: true });
  addPodsCleanup(cleanups, 'coracle', clients);
  checkInterrupted();
  await podRounds('coracle', clients, net, WARMUP_ROUNDS, true);
  const timings = await podRounds('coracle', clients, net, pods, false);
  const version = await clients.runtime.Version({});
  printTimings(`coracle ${version.runtime_version} (${pods} pods, after ${WARMUP_ROUNDS} warm-up rounds):`, timings, RPCS);
  // As src/daemon/compose.ts lays them out.
  const clean = await leakCheck('coracle', clients, dir, net, { ipamDir: join(root, 'cni', 'networks'), cacheDir: join(root, 'cni', 'results'), cachePrefix: '' });
  return { timings, clean };
}

/**
 * The sandbox image: a static busybox that sleeps (containerd SIGKILLs it at stop). Its
 * applets are symlinks here, not the helper's hardlinks: containerd applies a hardlink's
 * header mode (0644) to the inode it shares with /bin/busybox, which could then not run.
 */
async function pushPauseImage(registry: { url: string }): Promise<void> {
  const entries = (await busyboxRootfsEntries()).map((e): LayerEntry => (e.type === 'hardlink' ? { type: 'symlink', path: e.path, target: 'busybox' } : e));
  const layer = await buildLayer(entries);
  const image = buildImage({ layers: [layer], config: { Cmd: ['/bin/sleep', '2147483647'] } });
  await pushImage(registry.url, PAUSE_REPO, image, [PAUSE_TAG]);
}

async function benchContainerd(cleanups: Cleanups, net: Net, pods: number): Promise<Result> {
  const registry = await startTestRegistry({ scope: 'suite' });
  cleanups.add('stop registry', () => registry.stop());
  await pushPauseImage(registry);
  const pause = `${registry.host}/${PAUSE_REPO}:${PAUSE_TAG}`;

  const dir = await containerdTempDir(cleanups, 'coracle-bench-pods-containerd-');
  addNetworkCleanup(cleanups, net);
  // The same conflist as coracle's embedded one, with this runtime's names and lease dir.
  const { confDir, ipamDir } = await writeContainerdConflist(dir, net);
  const config = podsContainerdConfig(dir, { registryHost: registry.host, cniBinDir: CNI_BIN_DIR, cniConfDir: confDir, pause, runcRoot: join(dir, 'runc') });
  // Teardown, newest first: its pods removed, containerd stopped, its bridge deleted, then
  // (containerdTempDir) whatever containers, shims and mounts it still left, and the dir.
  const { clients } = await startContainerd(cleanups, dir, config, { detached: true });
  addPodsCleanup(cleanups, 'containerd', clients);
  checkInterrupted();
  const pulled = await clients.image.PullImage({ image: { image: pause } }, { deadline: Date.now() + RPC_DEADLINE_MS });
  if (!pulled.image_ref) throw new Error(`containerd: PullImage ${pause} returned no image`);
  await podRounds('containerd', clients, net, WARMUP_ROUNDS, true);
  const timings = await podRounds('containerd', clients, net, pods, false);
  const version = await clients.runtime.Version({});
  printTimings(`${version.runtime_name} ${version.runtime_version} (${pods} pods, after ${WARMUP_ROUNDS} warm-up rounds):`, timings, RPCS);
  // libcni's cache is host-wide: this network's entries are those named after it (its bridge).
  const clean = await leakCheck('containerd', clients, dir, net, { ipamDir, cacheDir: '/var/lib/cni/results', cachePrefix: `${net.bridge}-` });
  return { timings, clean };
}

runBench(options, 'node dist/bench/pods.js [--pods 50]', async (opts, cleanups) => {
  // crbench<n> with 10.253.<n % 250>.0/24 for coracle, crbench<n>d with 10.254.<n % 250>.0/24 for containerd.
  const nets = await pickNetworks({ bridgePrefix: 'crbench', coracleOctet: 253, containerdOctet: 254 });
  const coracle = await benchCoracle(cleanups, nets.coracle, opts.pods);
  let clean = coracle.clean;
  if (await onPath('containerd')) {
    const containerd = await benchContainerd(cleanups, nets.containerd, opts.pods);
    clean &&= containerd.clean;
    const ratios = RPCS.map((rpc) => `${rpc} ${(percentile(containerd.timings[rpc], 50) / percentile(coracle.timings[rpc], 50)).toFixed(2)}`);
    console.log(`containerd/coracle p50: ${ratios.join(', ')}`);
  } else {
    console.log('containerd: not on PATH, no comparison (to compare: apt-get install -y containerd)');
  }
  if (!clean) throw new Error('a runtime leaked (see the leak checks above)');
});
