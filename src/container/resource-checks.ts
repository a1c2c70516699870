import { readFile } from 'node:fs/promises';
import { invalidArgument } from '../errors.js';
import type { Resources } from '../oci/spec.js';

/**
 * What the kernel takes for a container's cgroup limits, checked before runc is asked: out
 * of range, runc fails half-way through create or update with the kernel's EINVAL (or, for
 * cpu.shares, with its own read-back check on v1), which would reach the client as an
 * INTERNAL that is in fact the request's fault. Ranges as the kernel's sched and memcg
 * code has them; 0 means "unset" throughout, as in CRI.
 */
const LIMITS = {
  /** cgroup v1 cpu.shares clamps to [2, 262144]; runc refuses a value that was clamped. */
  shares: [2, 262_144],
  /** cfs period: 1 ms to 1 s. */
  period: [1_000, 1_000_000],
  /** cfs quota: at least 1 ms; at most 2^44-1 µs (the kernel's max_cfs_runtime); -1 is "no limit". */
  quota: [1_000, 2 ** 44 - 1],
  /**
   * A memory limit so small that runc's own init is killed or the kernel cannot shrink
   * usage under it (EBUSY) fails the create; CRI-O refuses below 12 MiB, as here.
   */
  memory: [12 << 20, Number.MAX_SAFE_INTEGER],
  oomScoreAdj: [-1000, 1000],
} as const;

/**
 * Highest id a uid or gid may be: the kernel takes up to 2^32-2, but runc refuses past
 * 2^31-1 ("uids and gids must be in range 0-2147483647"), as the fuzz found.
 */
export const MAX_ID = 2 ** 31 - 1;

/**
 * The numbers of a kernel cpu or memory-node list ("0-3,6"), or undefined when `text` is
 * not one. Capped: a list naming more than 4096 ids is refused as not a list.
 */
export function parseIdList(text: string): number[] | undefined {
  if (!/^\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*$/.test(text)) return undefined;
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const [a, b = a] = part.split('-').map(Number) as [number, number?];
    if (b < a || out.size + (b - a) >= 4096) return undefined;
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out];
}

/** A number field: a safe integer within [lo, hi], or one of `also` (0 always: unset). */
export function checkRange(what: string, v: number | undefined, [lo, hi]: readonly [number, number], also: number[] = []): void {
  if (v === undefined || v === 0 || also.includes(v)) return;
  if (!Number.isSafeInteger(v) || v < lo || v > hi) {
    const extra = also.length > 0 ? ` (or ${also.join(', ')})` : '';
    throw invalidArgument(`${what} ${v}: must be between ${lo} and ${hi}${extra}, or 0 for none`);
  }
}

/** The host's online ids of a kind, from sysfs ("0-1"); undefined when sysfs does not say. */
async function online(file: string): Promise<Set<number> | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  const ids = text === undefined ? undefined : parseIdList(text.trim());
  return ids && new Set(ids);
}

/** A cpuset list: well formed, and naming only ids this node has online. */
async function checkCpuset(what: string, text: string | undefined, file: string, fallback: number[]): Promise<void> {
  if (!text) return;
  const ids = parseIdList(text);
  if (!ids) throw invalidArgument(`${what} ${JSON.stringify(text.slice(0, 100))}: not a list of ids such as "0-3,6"`);
  const have = (await online(file)) ?? new Set(fallback);
  const missing = ids.filter((i) => !have.has(i));
  if (missing.length > 0) throw invalidArgument(`${what} "${text}": ${missing.slice(0, 8).join(',')} not online on this node (online: ${[...have].join(',')})`);
}

/** Refuses, as INVALID_ARGUMENT naming the field, limits the kernel would refuse. */
export async function vetResources(r: Resources & { oomScoreAdj?: number }, what = 'resources'): Promise<void> {
  checkRange(`${what}: cpu_shares`, r.cpuShares, LIMITS.shares);
  checkRange(`${what}: cpu_period`, r.cpuPeriod, LIMITS.period);
  checkRange(`${what}: cpu_quota`, r.cpuQuota, LIMITS.quota, [-1]);
  checkRange(`${what}: memory_limit_in_bytes`, r.memoryLimit, LIMITS.memory, [-1]);
  checkRange(`${what}: oom_score_adj`, r.oomScoreAdj, LIMITS.oomScoreAdj);
  for (const h of r.hugepageLimits ?? []) checkRange(`${what}: hugepage limit ${h.pageSize}`, h.limit, [0, Number.MAX_SAFE_INTEGER]);
  await checkCpuset(`${what}: cpuset_cpus`, r.cpusetCpus, '/sys/devices/system/cpu/online', []);
  // A host without NUMA has no node dir: node 0 is all there is.
  await checkCpuset(`${what}: cpuset_mems`, r.cpusetMems, '/sys/devices/system/node/online', [0]);
}
