import { join } from 'node:path';
import { cgroupDir, type CgroupHost } from '../oci/cgroup-host.js';
import { readKernelFile } from '../util/kernel-file.js';

/** What a container's cgroups count, as kubelet's stats want it. */
export interface CgroupUsage {
  cpuNanoseconds: bigint;
  memoryUsageBytes: bigint;
  /** usage minus inactive file pages: what kubelet evicts on. */
  memoryWorkingSetBytes: bigint;
  memoryRssBytes: bigint;
  /** Processes in the cgroup. */
  processes: number;
}

/** What a process that is gone (or never was) reads as. */
export const NO_CGROUP_USAGE: CgroupUsage = { cpuNanoseconds: 0n, memoryUsageBytes: 0n, memoryWorkingSetBytes: 0n, memoryRssBytes: 0n, processes: 0 };

async function readBig(path: string): Promise<bigint> {
  try {
    return BigInt((await readKernelFile(path)).trim());
  } catch {
    return 0n;
  }
}

/** A flat keyed file (memory.stat, cpu.stat): `key value` lines. */
async function keyed(path: string): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  const text = await readKernelFile(path).catch(() => '');
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v && /^\d+$/.test(v)) out.set(k, BigInt(v));
  }
  return out;
}

const minus = (a: bigint, b: bigint): bigint => (a > b ? a - b : 0n);

/** cgroup v1: cpuacct.usage, memory.usage_in_bytes and memory.stat's total_*, pids.current. */
async function v1Usage(host: CgroupHost, procCgroup: string): Promise<CgroupUsage> {
  const dir = (c: string): string | undefined => cgroupDir(host, procCgroup, c);
  const cpuacct = dir('cpuacct');
  const memory = dir('memory');
  const pids = dir('pids');
  // In parallel: the counters are separate files, each a trip to the thread pool.
  const [usage, stat, cpu, procs] = await Promise.all([
    memory ? readBig(join(memory, 'memory.usage_in_bytes')) : 0n,
    memory ? keyed(join(memory, 'memory.stat')) : new Map<string, bigint>(),
    cpuacct ? readBig(join(cpuacct, 'cpuacct.usage')) : 0n,
    pids ? readBig(join(pids, 'pids.current')) : 0n,
  ]);
  return {
    cpuNanoseconds: cpu,
    memoryUsageBytes: usage,
    memoryWorkingSetBytes: minus(usage, stat.get('total_inactive_file') ?? 0n),
    memoryRssBytes: stat.get('total_rss') ?? 0n,
    processes: Number(procs),
  };
}

/** cgroup v2: cpu.stat usage_usec, memory.current and memory.stat's anon/inactive_file, pids.current. */
async function v2Usage(host: CgroupHost, procCgroup: string): Promise<CgroupUsage> {
  const dir = cgroupDir(host, procCgroup, '');
  if (!dir) return NO_CGROUP_USAGE;
  const [usage, stat, cpu, procs] = await Promise.all([
    readBig(join(dir, 'memory.current')),
    keyed(join(dir, 'memory.stat')),
    keyed(join(dir, 'cpu.stat')),
    readBig(join(dir, 'pids.current')),
  ]);
  return {
    cpuNanoseconds: (cpu.get('usage_usec') ?? 0n) * 1000n,
    memoryUsageBytes: usage,
    memoryWorkingSetBytes: minus(usage, stat.get('inactive_file') ?? 0n),
    memoryRssBytes: stat.get('anon') ?? 0n,
    processes: Number(procs),
  };
}

/**
 * Usage of the cgroups a process is in, given the text of its /proc/PID/cgroup: through the
 * v1 hierarchies on v1 and hybrid hosts, the cgroup2 one on unified. A counter that cannot
 * be read (controller missing, process gone) reads as zero.
 */
export function cgroupUsage(host: CgroupHost, procCgroup: string): Promise<CgroupUsage> {
  if (host.layout === 'unified') return v2Usage(host, procCgroup);
  if (host.layout === 'none') return Promise.resolve(NO_CGROUP_USAGE);
  return v1Usage(host, procCgroup);
}
