import type { CgroupHost } from '../oci/cgroup-host.js';
import type { SandboxRecord } from '../sandbox/sandbox-store.js';
import { interfaceUsage, type InterfaceUsage } from '../netns/net-dev.js';
import { limiter } from '../util/limit.js';
import type { ContainerRecord } from './container-store.js';
import { ContainerCounters, containerUsage, diskUsage, type ContainerUsage } from './container-stats.js';
import { CpuRate } from './cpu-rate.js';

/** One container's usage, as ContainerStats gives it. */
export interface ContainerStatsRecord {
  container: ContainerRecord;
  usage: ContainerUsage;
  mountpoint: string;
}

/** A pod's usage: its containers', its network namespace's interfaces, its processes. */
export interface PodUsage {
  containers: ContainerStatsRecord[];
  interfaces: InterfaceUsage[];
  processes: number;
}

export interface UsageDeps {
  cgroups: CgroupHost;
  /** A container's writable layer (overlay upper dir), as its snapshot's mounts say; undefined once removed. */
  upperDir(id: string): Promise<string | undefined>;
  /** The dir reported as the writable layer's filesystem. */
  mountpoint(id: string): string;
}

/**
 * Containers (or pods' interface reads) read at once, by all the stats calls together:
 * unbounded, a ListContainerStats of 100 containers queued some 800 file operations on
 * libuv's 4 threads at once, and every other call's file work (a ContainerStatus's exit
 * file) waited behind them. 16 at a time, of a few operations each, keep the 4 threads busy.
 */
const READS_AT_ONCE = 16;
/** How long a writable layer's walked usage is served again. */
const WRITABLE_LAYER_TTL_MS = 5_000;

/**
 * Usage of containers and pods, from records the caller has brought up to date (exits
 * read): cgroup counters while a container's processes live, its writable layer, a CPU rate
 * between readings, and a pod's interfaces through /proc/PID/net/dev of a process in it.
 */
export class UsageReader {
  private readonly cpuRate = new CpuRate();
  private readonly counters: ContainerCounters;
  private readonly limit = limiter(READS_AT_ONCE);
  /**
   * Writable-layer usage by container, walked at most once per WRITABLE_LAYER_TTL_MS: the
   * walk is most of a stats call at 100 pods, and kubelet asks every 10 s. containerd's CRI
   * serves it from snapshot usage its syncer refreshes every 10 s (stats_collect_period).
   */
  private readonly layers = new Map<string, { at: number; usage: Promise<{ bytes: number; inodes: number }> }>();

  constructor(private readonly deps: UsageDeps) {
    this.counters = new ContainerCounters(deps.cgroups);
  }

  async container(c: ContainerRecord): Promise<ContainerStatsRecord> {
    const alive = c.state === 'RUNNING' || c.state === 'CREATED' ? c.pid : undefined;
    // A container with no process keeps no counter files open.
    if (!alive) this.counters.forget(c.id);
    const usage = await this.limit(async () => containerUsage(alive ? await this.counters.get(c.id, alive) : undefined, () => this.layer(c.id)));
    const rate = alive ? this.cpuRate.sample(c.id, usage.readAt, usage.cpuNanoseconds) : undefined;
    return { container: c, usage: rate === undefined ? usage : { ...usage, cpuNanoCores: rate }, mountpoint: this.deps.mountpoint(c.id) };
  }

  /** The usage of `pod`, whose containers are `containers`. */
  async pod(pod: SandboxRecord, containers: ContainerRecord[]): Promise<PodUsage> {
    const own = pod.namespaces.network !== 'NODE';
    // The interfaces through the pod's own process while its containers are read; through
    // a running container's only when the pod has no process of its own (or it is gone).
    const [stats, first] = await Promise.all([
      Promise.all(containers.map((c) => this.container(c))),
      own && pod.infraPid !== undefined ? this.interfaces(pod.infraPid) : Promise.resolve([]),
    ]);
    let interfaces = first;
    if (own && interfaces.length === 0) {
      for (const s of stats) {
        if (s.container.state !== 'RUNNING' || s.container.pid === undefined) continue;
        interfaces = await this.interfaces(s.container.pid);
        if (interfaces.length > 0) break;
      }
    }
    let processes = 0;
    for (const s of stats) processes += s.usage.processes;
    return { containers: stats, interfaces, processes };
  }

  private interfaces(pid: number): Promise<InterfaceUsage[]> {
    return this.limit(() => interfaceUsage(pid)).catch(() => []);
  }

  /**
   * The writable layer's usage, walked again once WRITABLE_LAYER_TTL_MS have passed; its dir
   * is looked up only then (undefined: gone with a removal under way, which reads as zero).
   */
  private layer(id: string): Promise<{ bytes: number; inodes: number }> {
    const now = Date.now();
    const known = this.layers.get(id);
    if (known && now - known.at < WRITABLE_LAYER_TTL_MS) return known.usage;
    const usage = this.deps.upperDir(id).then((dir) => (dir === undefined ? { bytes: 0, inodes: 0 } : diskUsage(dir)));
    this.layers.set(id, { at: now, usage });
    // A failed walk is not kept: the next call walks again.
    usage.catch(() => {
      if (this.layers.get(id)?.usage === usage) this.layers.delete(id);
    });
    return usage;
  }

  /** A removed container's readings go with it. */
  forget(id: string): void {
    this.layers.delete(id);
    this.cpuRate.forget(id);
    this.counters.forget(id);
  }
}
