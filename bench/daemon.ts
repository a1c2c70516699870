/**
 * bench/daemon: the daemon itself. Start time, Version and Status round-trip latency, and
 * its memory: fresh (RSS and PSS), with `pods` pods up (each one container; the daemon's and
 * the per-pod processes' PSS: coracle's conmons, containerd's shims and pauses), and after
 * each of `rounds` rounds of `pods` pods that come and go, with its open fds. containerd's
 * figures beside when it is on PATH.
 *
 * Usage: node dist/bench/daemon.js [--calls 2000] [--rounds 5] [--pods 20]
 *
 * Each runtime gets a temp dir, a bridge and a /24 of its own (as bench/lifecycle); the
 * container image is a static busybox served by a registry of the bench's own. Everything it
 * started is stopped and removed, whatever happens.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CriClients } from '../test/helpers/cri-client.js';
import { containerdTempDir, podsContainerdConfig, shimsOf, startContainerd } from './lib/containerd.js';
import { conmonsOf, coracleConfig, coracleTempDir, startCoracleDaemon } from './lib/coracle-daemon.js';
import { Cleanups, onPath, processesNamed, sleep } from './lib/host.js';
import { IMAGE_REPO, PAUSE_CMD, PAUSE_REPO, startBenchRegistry, TAG, type Registry } from './lib/bench-images.js';
import { addNetworkCleanup, pickNetworks, writeContainerdConflist, type Net } from './lib/network.js';
import { addPodsCleanup, churn, memOf, memText, printChurn, type Mem } from './lib/pod-churn.js';
import { countOptions } from './lib/options.js';
import { checkInterrupted, runBench } from './lib/teardown.js';
import { SETTLE_MS } from './lib/memory.js';
import { loadSummary, printLoad } from './lib/loadavg.js';

const CNI_BIN_DIR = '/usr/lib/cni';

interface Options {
  calls: number;
  rounds: number;
  pods: number;
}

const options = (): Options => countOptions({ calls: 2000, rounds: 5, pods: 20 });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function latency(clients: CriClients, calls: number): Promise<void> {
  const time = async (n: number, call: () => Promise<unknown>): Promise<number[]> => {
    const lat: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = process.hrtime.bigint();
      await call();
      lat.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    return lat.sort((a, b) => a - b);
  };
  const version = await time(calls, () => clients.runtime.Version({}));
  const status = await time(200, () => clients.runtime.Status({ verbose: false }));
  const fmt = (l: number[]): string => `p50 ${percentile(l, 50).toFixed(3)} ms  p95 ${percentile(l, 95).toFixed(3)} ms  p99 ${percentile(l, 99).toFixed(3)} ms`;
  console.log(`Version round-trip (${calls} calls):  ${fmt(version)}`);
  console.log(`Status round-trip (200 calls):     ${fmt(status)}`);
}


async function pull(name: string, clients: CriClients, image: string): Promise<void> {
  const pulled = await clients.image.PullImage({ image: { image } }, {});
  if (!pulled.image_ref) throw new Error(`${name}: PullImage ${image} returned no image`);
}

async function benchCoracle(cleanups: Cleanups, registry: Registry, net: Net, o: Options): Promise<{ fresh: Mem; withPods: number }> {
  const dir = await coracleTempDir(cleanups, 'coracle-bench-daemon-');
  addNetworkCleanup(cleanups, net);
  const { config, socket } = await coracleConfig(dir, { cniBinDirs: [CNI_BIN_DIR], net, registries: { [registry.host]: registry.url } });
  const t0 = process.hrtime.bigint();
  const { proc, clients } = await startCoracleDaemon(cleanups, config, socket, { detached: true });
  const startMs = Number(process.hrtime.bigint() - t0) / 1e6;
  await clients.runtime.Version({});
  const firstCallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  addPodsCleanup(cleanups, 'coracle', clients);
  console.log(`coracle: start (spawn to serving)  ${startMs.toFixed(0)} ms, to the first Version ${firstCallMs.toFixed(0)} ms`);
  await sleep(SETTLE_MS);
  const fresh = await memOf([proc.pid!]);
  await latency(clients, o.calls);
  console.log(`coracle: after the calls           RSS ${(((await memOf([proc.pid!])).rss) / 1024).toFixed(1)} MiB`);
  checkInterrupted();
  const image = `${registry.host}/${IMAGE_REPO}:${TAG}`;
  await pull('coracle', clients, image);
  await sleep(SETTLE_MS);
  console.log(`coracle: after a pull              ${memText(await memOf([proc.pid!]))}`);
  const c = await churn({ name: 'coracle', clients, image, daemonPid: proc.pid!, podProcesses: () => conmonsOf(dir) }, o.rounds, o.pods, SETTLE_MS);
  printChurn('coracle', fresh, c, o.pods);
  return { fresh, withPods: c.up.daemon.pss + c.up.pods.pss };
}

/** containerd's pause processes: the sleeps whose parent (/proc/PID/stat's ppid) is one of `shims`. */
async function pausesOf(shims: number[]): Promise<number[]> {
  const want = new Set(shims);
  const pids = await processesNamed('sleep', (argv) => argv.join(' ') === PAUSE_CMD.join(' '));
  const out: number[] = [];
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (want.has(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))) out.push(pid);
  }
  return out;
}

async function benchContainerd(cleanups: Cleanups, registry: Registry, net: Net, o: Options): Promise<{ fresh: Mem; withPods: number }> {
  const pause = `${registry.host}/${PAUSE_REPO}:${TAG}`;
  const dir = await containerdTempDir(cleanups, 'coracle-bench-daemon-containerd-');
  addNetworkCleanup(cleanups, net);
  const { confDir } = await writeContainerdConflist(dir, net);
  const config = podsContainerdConfig(dir, { registryHost: registry.host, cniBinDir: CNI_BIN_DIR, cniConfDir: confDir, pause, runcRoot: join(dir, 'runc') });
  const { proc, clients } = await startContainerd(cleanups, dir, config, { detached: true });
  addPodsCleanup(cleanups, 'containerd', clients);
  await sleep(SETTLE_MS);
  const fresh = await memOf([proc.pid!]);
  checkInterrupted();
  const image = `${registry.host}/${IMAGE_REPO}:${TAG}`;
  await pull('containerd', clients, pause);
  await pull('containerd', clients, image);
  const podProcesses = async (): Promise<number[]> => {
    const shims = await shimsOf(dir);
    return [...shims, ...(await pausesOf(shims))];
  };
  const c = await churn({ name: 'containerd', clients, image, daemonPid: proc.pid!, podProcesses }, o.rounds, o.pods, SETTLE_MS);
  printChurn('containerd', fresh, c, o.pods);
  return { fresh, withPods: c.up.daemon.pss + c.up.pods.pss };
}

runBench(options, 'node dist/bench/daemon.js [--calls 2000] [--rounds 5] [--pods 20]', async (o, cleanups) => {
  // Not bench/pods' nor bench/lifecycle's names and subnets: they may run at once.
  const nets = await pickNetworks({ bridgePrefix: 'crdmn', coracleOctet: 248, containerdOctet: 249 });
  const registry = await startBenchRegistry(cleanups);
  await printLoad('at the start');
  const coracle = await benchCoracle(cleanups, registry, nets.coracle, o);
  await printLoad('after coracle');
  if (await onPath('containerd')) {
    const containerd = await benchContainerd(cleanups, registry, nets.containerd, o);
    await printLoad('after containerd');
    const ratio = (a: number, b: number): string => (a / b).toFixed(2);
    console.log(
      `coracle/containerd: fresh daemon RSS ${ratio(coracle.fresh.rss, containerd.fresh.rss)}, ` +
        `daemon + per-pod processes PSS with ${o.pods} pods ${ratio(coracle.withPods, containerd.withPods)}`,
    );
  } else {
    console.log('containerd: not on PATH, no comparison (to compare: apt-get install -y containerd)');
  }
  console.log(loadSummary());
});
