import type { Dirent } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupHost } from '../oci/cgroup-host.js';
import { cgroupUsage, NO_CGROUP_USAGE, type CgroupUsage } from './cgroup-usage.js';

/** A container's resource usage, read from its cgroups (v1 or v2) and its writable layer. */
export interface ContainerUsage extends CgroupUsage {
  /** Nanoseconds since the epoch when read, as a decimal string. */
  timestamp: string;
  writableBytes: number;
  writableInodes: number;
  /** A monotonic clock (process.hrtime) at the cgroup read, for rates. */
  readAt: bigint;
  /** CPU use since the previous reading, in nanocores (none on a first reading). */
  cpuNanoCores?: bigint;
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
export async function containerUsage(pid: number | undefined, upperDir: string, cgroups: CgroupHost): Promise<ContainerUsage> {
  const timestamp = (BigInt(Date.now()) * 1_000_000n).toString();
  const procCgroup = pid ? await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => undefined) : undefined;
  const usage = procCgroup === undefined ? NO_CGROUP_USAGE : await cgroupUsage(cgroups, procCgroup);
  const readAt = process.hrtime.bigint();
  const disk = await diskUsage(upperDir);
  return { timestamp, readAt, ...usage, writableBytes: disk.bytes, writableInodes: disk.inodes };
}
