import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';

/**
 * How the host's cgroups are laid out, as runc sees them:
 * - 'v1': legacy, one cgroup v1 hierarchy per controller (or a few co-mounted);
 * - 'hybrid': v1 hierarchies as above, plus a cgroup2 mount at ROOT/unified that runc does
 *   not set limits through (systemd's hybrid mode);
 * - 'unified': cgroup2 mounted at ROOT, the one hierarchy;
 * - 'none': no cgroup mount at all (runc cannot set limits, nor make containers).
 */
export type CgroupLayout = 'v1' | 'hybrid' | 'unified' | 'none';

/** A cgroup mount: where it is, and which part of its hierarchy it shows there. */
export interface CgroupMount {
  /** The mount point, e.g. /sys/fs/cgroup/memory. */
  mountpoint: string;
  /** The hierarchy's dir shown at the mount point (mountinfo's root field), '/' usually. */
  root: string;
}

export interface CgroupHost {
  layout: CgroupLayout;
  /** Controllers runc can set container limits through, sorted. */
  controllers: string[];
  /** v1 (and hybrid): each controller's hierarchy. Empty on unified. */
  v1: Record<string, CgroupMount>;
  /** The cgroup2 mount: the hierarchy on unified, a side one (not used for limits) on hybrid. */
  v2?: CgroupMount & {
    /** Its root's cgroup.controllers: what it can hand down. */
    controllers: string[];
    /** Its root's cgroup.subtree_control: what is enabled for its children now. */
    subtreeControl: string[];
  };
}

/** The cgroup v1 controllers the kernel knows (named hierarchies such as name=systemd are not). */
const V1_CONTROLLERS = new Set(['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio', 'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc']);

/** mountinfo escapes space, tab, newline and backslash as octal (\040). */
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The cgroup and cgroup2 mounts of a /proc/PID/mountinfo text, in its order. */
export function cgroupMounts(mountinfo: string): (CgroupMount & { fstype: 'cgroup' | 'cgroup2'; controllers: string[] })[] {
  const out: (CgroupMount & { fstype: 'cgroup' | 'cgroup2'; controllers: string[] })[] = [];
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6) continue;
    const fstype = fields[dash + 1];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const superOptions = (fields[dash + 3] ?? '').split(',');
    out.push({
      fstype,
      root: unescape(fields[3]!),
      mountpoint: unescape(fields[4]!),
      controllers: fstype === 'cgroup' ? superOptions.filter((o) => V1_CONTROLLERS.has(o)) : [],
    });
  }
  return out;
}

const words = (text: string): string[] => text.split(/\s+/).filter(Boolean);

export interface CgroupProbe {
  /** The text of /proc/self/mountinfo; read from there when not given. */
  mountinfo?: string;
  /** Where the host mounts its cgroups; /sys/fs/cgroup when not given. */
  cgroupRoot?: string;
}

/**
 * The host's cgroup layout and the controllers runc can use, from the mounts and, on a
 * cgroup2 mount, its root's cgroup.controllers. As runc does: unified when cgroup2 is
 * mounted at the root; otherwise the v1 hierarchies, wherever they are mounted (the first
 * mount of a controller wins).
 */
export async function detectCgroups(probe: CgroupProbe = {}): Promise<CgroupHost> {
  const root = posix.normalize(probe.cgroupRoot ?? '/sys/fs/cgroup');
  const mounts = cgroupMounts(probe.mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8')));
  const readList = async (m: CgroupMount, file: string): Promise<string[]> => words(await readFile(join(m.mountpoint, file), 'utf8').catch(() => ''));
  const cgroup2 = async (m: CgroupMount): Promise<NonNullable<CgroupHost['v2']>> => ({
    mountpoint: m.mountpoint,
    root: m.root,
    controllers: (await readList(m, 'cgroup.controllers')).sort(),
    subtreeControl: (await readList(m, 'cgroup.subtree_control')).sort(),
  });
  const unified = mounts.find((m) => m.fstype === 'cgroup2' && m.mountpoint === root);
  if (unified) {
    const v2 = await cgroup2(unified);
    return { layout: 'unified', controllers: v2.controllers, v1: {}, v2 };
  }
  const v1: Record<string, CgroupMount> = {};
  for (const m of mounts) {
    if (m.fstype !== 'cgroup') continue;
    for (const c of m.controllers) v1[c] ??= { mountpoint: m.mountpoint, root: m.root };
  }
  const side = mounts.find((m) => m.fstype === 'cgroup2' && m.mountpoint === join(root, 'unified'));
  const controllers = Object.keys(v1).sort();
  if (controllers.length === 0 && !side) return { layout: 'none', controllers: [], v1: {} };
  return { layout: side ? 'hybrid' : 'v1', controllers, v1, ...(side ? { v2: await cgroup2(side) } : {}) };
}

/**
 * The dir of a process's cgroup for `controller` (any one on unified), from the text of its
 * /proc/PID/cgroup: `N:ctrl[,ctrl]:/path` lines on v1, the `0::/path` line on unified.
 * The path is the hierarchy's; the mount may show only part of it (its root field).
 */
export function cgroupDir(host: CgroupHost, procCgroup: string, controller: string): string | undefined {
  const lines = procCgroup.split('\n').map((l) => {
    const first = l.indexOf(':');
    const second = l.indexOf(':', first + 1);
    return { id: l.slice(0, first), controllers: l.slice(first + 1, second).split(','), path: l.slice(second + 1) };
  });
  const at = (m: CgroupMount, path: string): string => {
    const rel = m.root !== '/' && (path === m.root || path.startsWith(`${m.root}/`)) ? path.slice(m.root.length) : path;
    return join(m.mountpoint, rel);
  };
  if (host.layout === 'unified') {
    const line = lines.find((l) => l.id === '0' && l.controllers.join() === '');
    return line && host.v2 ? at(host.v2, line.path) : undefined;
  }
  const mount = host.v1[controller];
  const line = lines.find((l) => l.controllers.includes(controller));
  return mount && line ? at(mount, line.path) : undefined;
}

/** What Status shows of the host's cgroups. */
export function describeCgroups(host: CgroupHost): Record<string, unknown> {
  return {
    layout: host.layout,
    controllers: host.controllers,
    ...(Object.keys(host.v1).length > 0 ? { v1: Object.fromEntries(Object.entries(host.v1).map(([c, m]) => [c, m.mountpoint])) } : {}),
    ...(host.v2 ? { cgroup2: { mountpoint: host.v2.mountpoint, controllers: host.v2.controllers, subtreeControl: host.v2.subtreeControl, usedForLimits: host.layout === 'unified' } } : {}),
    driver: 'cgroupfs',
  };
}
