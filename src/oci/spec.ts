import { capabilities as capabilitySet, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from './defaults.js';
import type { OciSeccomp } from './seccomp.js';
import type { ProcessUser } from './user.js';

/** An OCI runtime spec (config.json), the parts Coracle writes. */
export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    /** The terminal's size from the start (runc sizes the console it makes). */
    consoleSize?: { height: number; width: number };
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[] };
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
  };
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: OciMount[];
  linux: {
    namespaces: { type: string; path?: string }[];
    cgroupsPath: string;
    resources: Record<string, unknown>;
    devices?: { path: string; type: string; major: number; minor: number; fileMode?: number; uid?: number; gid?: number }[];
    maskedPaths: string[];
    readonlyPaths: string[];
    sysctl?: Record<string, string>;
    rootfsPropagation?: string;
    seccomp?: OciSeccomp;
  };
  annotations?: Record<string, string>;
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/** A namespace: a pinned file to join, 'new' for a fresh one, or 'host' to share the node's. */
export type NamespaceSource = { path: string } | 'new' | 'host';

export interface UserMount {
  hostPath: string;
  containerPath: string;
  readonly: boolean;
  propagation: 'private' | 'rslave' | 'rshared';
}

export interface Resources {
  cpuShares?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  memoryLimit?: number;
  hugepageLimits?: { pageSize: string; limit: number }[];
  pidsLimit?: number;
}

export interface SpecInput {
  rootfs: string;
  readonlyRootfs: boolean;
  args: string[];
  env: string[];
  cwd: string;
  terminal: boolean;
  /** With `terminal`: the size it starts with. */
  consoleSize?: { height: number; width: number };
  user: ProcessUser;
  capAdd: string[];
  capDrop: string[];
  /** What "ALL" and privileged mean: the capabilities the daemon holds. */
  allCapabilities: string[];
  privileged: boolean;
  noNewPrivileges: boolean;
  /** Already clamped to be no lower than the daemon's own. */
  oomScoreAdj?: number;
  /** Set only when the container has a uts namespace of its own to name. */
  hostname?: string;
  /** cgroup: a namespace of its own on a unified host (as containerd and CRI-O), else the host's. */
  namespaces: { net: NamespaceSource; ipc: NamespaceSource; uts: NamespaceSource; pid: NamespaceSource; cgroup?: 'new' | 'host' };
  /** The pod's resolv.conf, hostname and hosts files. */
  podFiles: { resolvConf: string; hostname: string; hosts: string };
  /** What /dev/shm binds: the pod's shared tmpfs, or the host's; a tmpfs of its own if unset. */
  shm?: string;
  mounts: UserMount[];
  maskedPaths?: string[];
  readonlyPaths?: string[];
  cgroupsPath: string;
  resources: Resources;
  devices: { path: string; type: 'c' | 'b'; major: number; minor: number; fileMode: number; permissions: string; containerPath: string }[];
  annotations: Record<string, string>;
  seccomp?: OciSeccomp;
}

function defaultMounts(privileged: boolean): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'] },
  ];
}

function namespaces(ns: SpecInput['namespaces']): { type: string; path?: string }[] {
  const out: { type: string; path?: string }[] = [{ type: 'mount' }];
  for (const [kind, type] of [['pid', 'pid'], ['net', 'network'], ['ipc', 'ipc'], ['uts', 'uts']] as const) {
    const src = ns[kind];
    if (src === 'host') continue;
    out.push(src === 'new' ? { type } : { type, path: src.path });
  }
  if (ns.cgroup === 'new') out.push({ type: 'cgroup' });
  return out;
}

/** OCI linux.resources; devices only at create (runc update leaves them). */
export function resources(r: Resources, devices: SpecInput['devices'] | undefined, privileged: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const cpu: Record<string, unknown> = {};
  if (r.cpuShares) cpu.shares = r.cpuShares;
  if (r.cpuQuota) cpu.quota = r.cpuQuota;
  if (r.cpuPeriod) cpu.period = r.cpuPeriod;
  if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems) cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  if (r.memoryLimit) out.memory = { limit: r.memoryLimit };
  if (r.hugepageLimits?.length) out.hugepageLimits = r.hugepageLimits.map((h) => ({ pageSize: h.pageSize, limit: h.limit }));
  if (r.pidsLimit) out.pids = { limit: r.pidsLimit };
  if (!devices) return out;
  // runc adds the standard devices (null, zero, tty…) to whatever is allowed here.
  out.devices = privileged
    ? [{ allow: true, access: 'rwm' }]
    : [{ allow: false, access: 'rwm' }, ...devices.map((d) => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.permissions }))];
  return out;
}

const PROPAGATION = { private: 'rprivate', rslave: 'rslave', rshared: 'rshared' } as const;

/** The capabilities a container's process gets (bounding, effective and permitted alike). */
export function containerCapabilities(input: Pick<SpecInput, 'privileged' | 'capAdd' | 'capDrop' | 'allCapabilities'>): string[] {
  return input.privileged ? [...input.allCapabilities] : capabilitySet(input.capAdd, input.capDrop, input.allCapabilities);
}

/**
 * The OCI runtime spec of a container, as runc takes it: the defaults containerd gives
 * (mounts, capabilities, masked and read-only paths) under what the CRI config asks for.
 */
export function buildSpec(input: SpecInput): OciSpec {
  const caps = containerCapabilities(input);
  const shm: OciMount[] = input.shm ? [{ destination: '/dev/shm', type: 'bind', source: input.shm, options: ['rbind', 'rprivate', 'rw'] }] : [];
  const podFiles: OciMount[] = [
    { destination: '/etc/resolv.conf', type: 'bind', source: input.podFiles.resolvConf, options: ['rbind', 'rprivate', input.readonlyRootfs ? 'ro' : 'rw'] },
    { destination: '/etc/hostname', type: 'bind', source: input.podFiles.hostname, options: ['rbind', 'rprivate', input.readonlyRootfs ? 'ro' : 'rw'] },
    { destination: '/etc/hosts', type: 'bind', source: input.podFiles.hosts, options: ['rbind', 'rprivate', input.readonlyRootfs ? 'ro' : 'rw'] },
  ];
  // A user mount over one of the pod's files or a default mount replaces it.
  const userDest = new Set(input.mounts.map((m) => m.containerPath));
  if (input.shm) userDest.add('/dev/shm');
  const mounts = [
    ...defaultMounts(input.privileged).filter((m) => !userDest.has(m.destination)),
    ...shm.filter((m) => !input.mounts.some((u) => u.containerPath === m.destination)),
    ...podFiles.filter((m) => !userDest.has(m.destination)),
    ...input.mounts.map((m) => ({
      destination: m.containerPath,
      type: 'bind',
      source: m.hostPath,
      options: ['rbind', PROPAGATION[m.propagation], m.readonly ? 'ro' : 'rw'],
    })),
  ];
  const needsSharedRoot = input.mounts.some((m) => m.propagation !== 'private');
  const spec: OciSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: input.terminal,
      ...(input.terminal && input.consoleSize ? { consoleSize: input.consoleSize } : {}),
      user: { uid: input.user.uid, gid: input.user.gid, ...(input.user.additionalGids.length ? { additionalGids: input.user.additionalGids } : {}) },
      args: input.args,
      env: input.env,
      cwd: input.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: input.noNewPrivileges,
      ...(input.oomScoreAdj !== undefined ? { oomScoreAdj: input.oomScoreAdj } : {}),
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs },
    ...(input.hostname !== undefined ? { hostname: input.hostname } : {}),
    mounts,
    linux: {
      namespaces: namespaces(input.namespaces),
      cgroupsPath: input.cgroupsPath,
      resources: resources(input.resources, input.devices, input.privileged),
      ...(input.devices.length > 0
        ? { devices: input.devices.map((d) => ({ path: d.containerPath, type: d.type, major: d.major, minor: d.minor, fileMode: d.fileMode, uid: 0, gid: 0 })) }
        : {}),
      maskedPaths: input.privileged ? [] : input.maskedPaths?.length ? input.maskedPaths : DEFAULT_MASKED_PATHS,
      readonlyPaths: input.privileged ? [] : input.readonlyPaths?.length ? input.readonlyPaths : DEFAULT_READONLY_PATHS,
      // rslave and rshared user mounts need the root not to be private.
      ...(input.seccomp ? { seccomp: input.seccomp } : {}),
      ...(needsSharedRoot ? { rootfsPropagation: input.mounts.some((m) => m.propagation === 'rshared') ? 'rshared' : 'rslave' } : {}),
    },
    annotations: input.annotations,
  };
  return spec;
}
