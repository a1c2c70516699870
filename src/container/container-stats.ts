import { closeSync, openSync, type Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { readKernelFile } from '../util/kernel-file.js';
import { O_DIRECTORY, O_NOFOLLOW, O_RDONLY, openat } from '../util/at-syscalls.js';
import type { CgroupHost } from '../oci/cgroup-host.js';
import { CgroupCounters, NO_CGROUP_USAGE, type CgroupUsage } from './cgroup-usage.js';

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

/** Bounds of one disk-usage walk: a pod builds its writable layer as it likes. */
const DISK_USAGE_LIMITS = { maxDepth: 256, maxEntries: 1_000_000, maxMs: 5_000 };

/**
 * Bytes and inodes under `dir`, not following links. The container may be running and
 * changing the tree: each directory is entered by an fd opened O_NOFOLLOW in its parent's,
 * so one swapped for a symlink is never followed out of it. The walk holds an fd per level,
 * so it stops descending at `maxDepth`, and it stops at `maxEntries` entries or after
 * `maxMs`: what lies past a bound is not counted, and `partial` says so.
 */
export async function diskUsage(dir: string, limits = DISK_USAGE_LIMITS): Promise<{ bytes: number; inodes: number; partial: boolean }> {
  let bytes = 0;
  let inodes = 0;
  let partial = false;
  const deadline = Date.now() + limits.maxMs;
  const walk = async (fd: number, depth: number): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(`/proc/self/fd/${fd}`, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (inodes >= limits.maxEntries || Date.now() > deadline) {
        partial = true;
        return;
      }
      const st = await lstat(`/proc/self/fd/${fd}/${e.name}`).catch(() => undefined);
      if (!st) continue;
      inodes++;
      bytes += st.blocks * 512;
      if (!st.isDirectory()) continue;
      if (depth >= limits.maxDepth) {
        partial = true;
        continue;
      }
      let sub: number;
      try {
        sub = openat(fd, e.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      } catch {
        continue;
      }
      try {
        await walk(sub, depth + 1);
      } finally {
        closeSync(sub);
      }
    }
  };
  let root: number;
  try {
    root = openSync(dir, O_RDONLY | O_DIRECTORY);
  } catch {
    return { bytes, inodes, partial };
  }
  try {
    await walk(root, 0);
  } finally {
    closeSync(root);
  }
  return { bytes, inodes, partial };
}

/**
 * The cgroup counters of containers' init processes (CgroupCounters), opened by container id
 * and pid from /proc/PID/cgroup on the first reading and kept: stats read that text once per
 * container rather than once per call, and the counter files are opened once. Why that is
 * safe: runc puts the init in its cgroups before it runs and Coracle never moves it, so the
 * text holds for the life of that pid (containerd's shim likewise keeps the cgroup it loaded
 * at start). A new pid (a restart) opens them again; a pid reused by another process after
 * the container exited would have been read as that process's cgroups before, and is not
 * now. A failed read is not kept. forget closes them: the usage reader calls it once a
 * container has no process, and when it is removed.
 */
export class ContainerCounters {
  private readonly byId = new Map<string, { pid: number; counters: CgroupCounters }>();
  /** The gets in flight by container: forget marks them, so that none opens files after it. */
  private readonly opening = new Map<string, Set<{ forgotten: boolean }>>();

  constructor(private readonly host: CgroupHost) {}

  async get(id: string, pid: number): Promise<CgroupCounters | undefined> {
    const hit = this.byId.get(id);
    if (hit?.pid === pid) return hit.counters;
    const ticket = { forgotten: false };
    const tickets = this.opening.get(id) ?? new Set();
    this.opening.set(id, tickets.add(ticket));
    let text: string | undefined;
    try {
      text = await readKernelFile(`/proc/${pid}/cgroup`).catch(() => undefined);
    } finally {
      tickets.delete(ticket);
      if (tickets.size === 0 && this.opening.get(id) === tickets) this.opening.delete(id);
    }
    // Forgotten meanwhile (removed, or its process gone): files opened now would stay open.
    if (text === undefined || ticket.forgotten) return undefined;
    // Another reading may have opened them while this one read.
    const now = this.byId.get(id);
    if (now?.pid === pid) return now.counters;
    let counters: CgroupCounters;
    try {
      counters = CgroupCounters.open(this.host, text);
    } catch {
      return undefined;
    }
    now?.counters.close();
    this.byId.set(id, { pid, counters });
    return counters;
  }

  forget(id: string): void {
    for (const ticket of this.opening.get(id) ?? []) ticket.forgotten = true;
    this.byId.get(id)?.counters.close();
    this.byId.delete(id);
  }

  /** How many containers' counters are open. */
  get size(): number {
    return this.byId.size;
  }
}

/**
 * Usage of a container whose init process's cgroups are counted by `counters` (undefined:
 * no process, which reads as zero), and of its writable layer (`layer`).
 */
export async function containerUsage(counters: CgroupCounters | undefined, layer: () => Promise<{ bytes: number; inodes: number }>): Promise<ContainerUsage> {
  const timestamp = (BigInt(Date.now()) * 1_000_000n).toString();
  const usage = counters === undefined ? NO_CGROUP_USAGE : await counters.read();
  const readAt = process.hrtime.bigint();
  const { bytes, inodes } = await layer();
  return { timestamp, readAt, ...usage, writableBytes: bytes, writableInodes: inodes };
}
