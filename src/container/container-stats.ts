import type { Dirent } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A container's resource usage, read from its cgroups (v1) and its writable layer. */
export interface ContainerUsage {
  /** Nanoseconds since the epoch when read, as a decimal string. */
  timestamp: string;
  cpuNanoseconds: bigint;
  memoryUsageBytes: bigint;
  /** usage minus inactive file pages: what kubelet evicts on. */
  memoryWorkingSetBytes: bigint;
  memoryRssBytes: bigint;
  writableBytes: number;
  writableInodes: number;
  /** Processes in the container's pids cgroup. */
  processes: number;
}

/** controller → path, from /proc/PID/cgroup (cgroup v1 lines `N:ctrl[,ctrl]:/path`). */
async function cgroupPaths(pid: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const line of (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n')) {
    const [, controllers, path] = line.split(':');
    if (!controllers || path === undefined) continue;
    for (const c of controllers.split(',')) out.set(c, path);
  }
  return out;
}

async function readBig(path: string): Promise<bigint> {
  try {
    return BigInt((await readFile(path, 'utf8')).trim());
  } catch {
    return 0n;
  }
}

async function memoryStat(path: string): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  const text = await readFile(path, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v) out.set(k, BigInt(v));
  }
  return out;
}

/** Bytes and inodes under `dir`, not following links. */
export async function diskUsage(dir: string): Promise<{ bytes: number; inodes: number }> {
  let bytes = 0;
  let inodes = 0;
  const walk = async (d: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      const st = await lstat(p).catch(() => undefined);
      if (!st) continue;
      inodes++;
      bytes += st.blocks * 512;
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return { bytes, inodes };
}

/** Usage of the container whose init process is `pid`; a process that is gone reads as zero. */
export async function containerUsage(pid: number | undefined, upperDir: string): Promise<ContainerUsage> {
  const timestamp = (BigInt(Date.now()) * 1_000_000n).toString();
  let cpu = 0n;
  let usage = 0n;
  let workingSet = 0n;
  let rss = 0n;
  const paths = pid ? await cgroupPaths(pid).catch(() => new Map<string, string>()) : new Map<string, string>();
  const cpuacct = paths.get('cpuacct');
  if (cpuacct !== undefined) cpu = await readBig(`/sys/fs/cgroup/cpuacct${cpuacct}/cpuacct.usage`);
  const memory = paths.get('memory');
  if (memory !== undefined) {
    usage = await readBig(`/sys/fs/cgroup/memory${memory}/memory.usage_in_bytes`);
    const stat = await memoryStat(`/sys/fs/cgroup/memory${memory}/memory.stat`);
    const inactive = stat.get('total_inactive_file') ?? 0n;
    workingSet = usage > inactive ? usage - inactive : 0n;
    rss = stat.get('total_rss') ?? 0n;
  }
  const pidsPath = paths.get('pids');
  const processes = pidsPath !== undefined ? Number(await readBig(`/sys/fs/cgroup/pids${pidsPath}/pids.current`)) : 0;
  const disk = await diskUsage(upperDir);
  return { timestamp, cpuNanoseconds: cpu, memoryUsageBytes: usage, memoryWorkingSetBytes: workingSet, memoryRssBytes: rss, writableBytes: disk.bytes, writableInodes: disk.inodes, processes };
}
