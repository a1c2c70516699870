import fc from 'fast-check';
import type { ContainerConfig } from '../../src/generated/runtime/v1/ContainerConfig.js';
import type { Device } from '../../src/generated/runtime/v1/Device.js';
import type { Mount } from '../../src/generated/runtime/v1/Mount.js';
import type { PortMapping } from '../../src/generated/runtime/v1/PortMapping.js';
import type { LinuxContainerResources } from '../../src/generated/runtime/v1/LinuxContainerResources.js';
import type { PodSandboxConfig } from '../../src/generated/runtime/v1/PodSandboxConfig.js';

/**
 * CRI requests for the fuzz test (test/cri/server-fuzz.test.ts): a valid config, as kubelet
 * would send, with zero, one or two of its fields replaced by a hostile value. Most cases
 * thus create and start a container, and each hostile value meets code that is otherwise
 * given a good request.
 */

/** One field of a config, by dotted path, set to a hostile value. */
export interface Mutation {
  path: string;
  value: unknown;
}

/** `config` with each mutation applied (objects on the path are made as needed). */
export function mutate<T extends object>(config: T, mutations: Mutation[]): T {
  const out = structuredClone(config) as Record<string, unknown>;
  for (const { path, value } of mutations) {
    const keys = path.split('.');
    let at = out;
    for (const k of keys.slice(0, -1)) at = (at[k] ??= {}) as Record<string, unknown>;
    at[keys.at(-1)!] = structuredClone(value);
  }
  return out as T;
}

export const weird = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom('', '.', '..', '../..', '/', '//', 'a/b', '-', '\0', 'a\0b', '\n', 'x\nnameserver 1.2.3.4', '😀', '%s%n', '${x}', ' ', 'a;b', 'a=b', '\uD800'),
  fc.string({ minLength: 1000, maxLength: 70_000 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
);
/** int64 fields, as proto-loader takes them: numbers, and strings past 2^53. */
export const int64 = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom(-1, 0, 1, 2, 999, 1000, 262_144, 262_145, 2 ** 31, 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 44, 2 ** 53 - 1, -(2 ** 53)),
  fc.integer(),
  fc.constantFrom('9223372036854775807', '-9223372036854775808', '4294967295'),
);
const int32 = fc.oneof(fc.integer({ min: -5, max: 70_000 }), fc.constantFrom(-1, 2 ** 31 - 1, -(2 ** 31)));
const dict = (n: number) => fc.dictionary(weird, weird, { maxKeys: n });
const dnsLabel = fc.stringMatching(/^[a-z][a-z0-9-]{0,14}[a-z0-9]$/);
/** 0, 1 or 2 mutations, mostly none or one. */
const someOf = (m: fc.Arbitrary<Mutation>) =>
  fc.oneof({ weight: 5, arbitrary: fc.constant([] as Mutation[]) }, { weight: 4, arbitrary: fc.array(m, { minLength: 1, maxLength: 1 }) }, { weight: 2, arbitrary: fc.array(m, { minLength: 2, maxLength: 2 }) });
const field = (table: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Mutation> => fc.oneof(...Object.entries(table).map(([path, a]) => a.map((value) => ({ path, value }))));

export interface FuzzPlaces {
  /** Pods' log dir. */
  logs: string;
  /** A host dir that mounts may use (and `..` out of, at most 4 steps). */
  base: string;
  /** A cgroup of the test's own for pods' parents. */
  cgroupTop: string;
  image: string;
}

export function podArbitrary(p: FuzzPlaces): fc.Arbitrary<{ config: PodSandboxConfig; mutations: Mutation[] }> {
  const valid: fc.Arbitrary<PodSandboxConfig> = fc.record({
    metadata: fc.record({ name: dnsLabel, namespace: fc.constant('fuzz'), uid: fc.uuid(), attempt: fc.nat({ max: 3 }) }),
    hostname: dnsLabel,
    log_directory: fc.constant(p.logs),
    labels: fc.dictionary(dnsLabel, dnsLabel, { maxKeys: 2 }),
    annotations: fc.dictionary(dnsLabel, fc.string({ maxLength: 30 }), { maxKeys: 2 }),
    dns_config: fc.record({ servers: fc.constantFrom<string[]>([], ['127.0.0.53']), searches: fc.constantFrom<string[]>([], ['fuzz.svc.cluster.local']), options: fc.constantFrom<string[]>([], ['ndots:5']) }),
    port_mappings: fc.oneof({ weight: 4, arbitrary: fc.constant<PortMapping[]>([]) }, { weight: 1, arbitrary: fc.record({ protocol: fc.constantFrom('TCP', 'UDP'), container_port: fc.integer({ min: 1, max: 65535 }), host_port: fc.constant(0), host_ip: fc.constant('') }).map((m) => [m]) }),
    linux: fc.record({
      cgroup_parent: fc.constantFrom('', `/${p.cgroupTop}/pods`),
      sysctls: fc.constantFrom<Record<string, string>>({}, { 'net.ipv4.ip_forward': '1' }, { 'net.core.somaxconn': '1024' }, { 'kernel.shmmni': '4096' }),
      security_context: fc.record({ namespace_options: fc.record({ network: fc.constantFrom('POD', 'POD', 'POD', 'NODE'), pid: fc.constantFrom('CONTAINER', 'POD'), ipc: fc.constant('POD') }) }),
    }),
  });
  const hostile = field({
    'metadata.name': weird,
    'metadata.namespace': weird,
    'metadata.uid': weird,
    hostname: fc.oneof(weird, fc.string({ minLength: 60, maxLength: 300 })),
    log_directory: fc.oneof(fc.constantFrom('', 'relative/logs'), weird),
    labels: dict(3),
    annotations: dict(3),
    dns_config: fc.record({ servers: fc.array(weird, { maxLength: 3 }), searches: fc.array(weird, { maxLength: 7 }), options: fc.array(weird, { maxLength: 3 }) }),
    port_mappings: fc.array(fc.record({ protocol: fc.constantFrom('TCP', 'UDP', 'SCTP'), container_port: int32, host_port: fc.oneof(fc.constant(0), fc.integer({ min: 41000, max: 41050 }), int32), host_ip: fc.constantFrom('', '127.0.0.1', '::1', 'garbage', '1.2.3.4.5') }), { maxLength: 2 }),
    'linux.cgroup_parent': fc.oneof(fc.constantFrom(p.cgroupTop, '../../etc', 'kubepods.slice', '/\0', '/a//b', `/${p.cgroupTop}/../x`), weird),
    'linux.sysctls': fc.dictionary(fc.constantFrom('net.ipv4.ip_forward', 'kernel.shmmni', 'net.core.somaxconn', 'vm.swappiness', 'kernel.hostname', 'net.ipv4.no_such', '../../x', 'net/ipv4/../../../x', 'a=b', ''), weird, { maxKeys: 2 }),
    'linux.security_context.namespace_options': fc.record({ network: fc.constantFrom('POD', 'NODE', 'CONTAINER', 'TARGET'), pid: fc.constantFrom('POD', 'CONTAINER', 'NODE', 'TARGET'), ipc: fc.constantFrom('POD', 'NODE', 'CONTAINER') }),
  });
  return fc.record({ config: valid, mutations: someOf(hostile) });
}

/** Commands of valid configs: each ends by itself, soon. */
export const ENDING_COMMANDS = [['/bin/sh', '-c', 'echo ok'], ['/bin/sleep', '5'], ['/bin/sh', '-c', 'echo ok; sleep 3'], ['/bin/true']];

/** Resources of a valid config or update, as kubelet computes them. */
const validResources: fc.Arbitrary<LinuxContainerResources> = fc.record(
  {
    cpu_shares: fc.integer({ min: 2, max: 262_144 }),
    cpu_period: fc.constantFrom(0, 100_000),
    cpu_quota: fc.oneof(fc.constant(0), fc.integer({ min: 1_000, max: 400_000 })),
    memory_limit_in_bytes: fc.oneof(fc.constant(0), fc.integer({ min: 32, max: 512 }).map((m) => m << 20)),
    oom_score_adj: fc.integer({ min: 0, max: 1000 }),
    cpuset_cpus: fc.constantFrom('', '0'),
    cpuset_mems: fc.constantFrom('', '0'),
  },
  { requiredKeys: [] },
);
const cpusetWeird = fc.oneof(fc.constantFrom('', '0', '0-1', '99', '4095', 'x', '1-0', '0,,1', '0-', '-1', ' 0', '0-99999', '0-4095'), weird);
const hostileResources: fc.Arbitrary<LinuxContainerResources> = fc.record(
  { cpu_period: int64, cpu_quota: int64, cpu_shares: int64, memory_limit_in_bytes: int64, oom_score_adj: int64, cpuset_cpus: cpusetWeird, cpuset_mems: cpusetWeird },
  { requiredKeys: [] },
);
export const resourcesArbitrary = fc.oneof({ weight: 3, arbitrary: validResources }, { weight: 1, arbitrary: hostileResources });

export function containerArbitrary(p: FuzzPlaces): fc.Arbitrary<{ config: ContainerConfig; mutations: Mutation[] }> {
  const valid: fc.Arbitrary<ContainerConfig> = fc.record({
    metadata: fc.record({ name: dnsLabel, attempt: fc.nat({ max: 3 }) }),
    image: fc.constant({ image: p.image }),
    command: fc.constantFrom<string[]>(...ENDING_COMMANDS),
    args: fc.constant<string[]>([]),
    working_dir: fc.constantFrom('', '/', '/tmp'),
    envs: fc.array(fc.record({ key: fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/), value: fc.string({ maxLength: 20 }).map((v) => Buffer.from(v)) }), { maxLength: 2 }),
    mounts: fc.oneof({ weight: 3, arbitrary: fc.constant<Mount[]>([]) }, { weight: 1, arbitrary: fc.constant<Mount[]>([{ container_path: '/data', host_path: `${p.base}/vol`, readonly: false }]) }),
    devices: fc.oneof({ weight: 4, arbitrary: fc.constant<Device[]>([]) }, { weight: 1, arbitrary: fc.constant<Device[]>([{ container_path: '/dev/xnull', host_path: '/dev/null', permissions: 'rwm' }]) }),
    labels: fc.dictionary(dnsLabel, dnsLabel, { maxKeys: 2 }),
    log_path: fc.constantFrom('', 'c.log', 'sub/c.log'),
    linux: fc.record({
      resources: validResources,
      security_context: fc
        .tuple(
          fc.record(
            {
              capabilities: fc.record({ add_capabilities: fc.constantFrom<string[]>([], ['NET_ADMIN'], ['CAP_CHOWN']), drop_capabilities: fc.constantFrom<string[]>([], ['ALL'], ['CHOWN']) }),
              supplemental_groups: fc.constantFrom<number[]>([], [2000]),
              readonly_rootfs: fc.boolean(),
              no_new_privs: fc.boolean(),
              seccomp: fc.record({ profile_type: fc.constantFrom('RuntimeDefault', 'RuntimeDefault', 'Unconfined') }),
            },
            { requiredKeys: [] },
          ),
          // A group only with a user, as kubelet sends them.
          fc.option(fc.tuple(fc.constantFrom(0, 1000, 65534), fc.option(fc.constantFrom(0, 1000), { nil: undefined })), { nil: undefined }),
        )
        .map(([sc, ids]) => ({ ...sc, ...(ids ? { run_as_user: { value: ids[0] }, ...(ids[1] !== undefined ? { run_as_group: { value: ids[1] } } : {}) } : {}) })),
    }),
  });
  const inside = fc.oneof(fc.constantFrom('/data', '/', '/proc', '/dev/x', '/etc/resolv.conf', 'relative', '/a/../../b', '', '/x\0y', '/sys/fs/cgroup'), weird);
  const hostPath = fc.oneof(
    fc.array(fc.constantFrom('..', 'x', 'y', '.', ''), { maxLength: 4 }).map((segs) => `${p.base}/${segs.join('/')}`),
    fc.constantFrom('relative/dir', '', `${p.base}/../../fz-sub`, '/nonexistent-coracle-fuzz\0x'),
  );
  const hostile = field({
    'metadata.name': weird,
    'image.image': fc.oneof(weird, fc.constantFrom('sha256:0000', 'busybox@sha256:zz', `${p.image}@sha256:${'0'.repeat(64)}`)),
    command: fc.oneof(fc.array(weird, { maxLength: 3 }), weird.map((s) => ['/bin/sh', '-c', s]), fc.constant([])),
    args: fc.array(weird, { maxLength: 3 }),
    working_dir: inside,
    envs: fc.array(fc.record({ key: weird, value: weird.map((v) => Buffer.from(v)) }), { maxLength: 3 }),
    mounts: fc.oneof(
      fc.array(fc.record({ container_path: inside, host_path: hostPath, readonly: fc.boolean() }), { minLength: 1, maxLength: 2 }),
      // Host files outside the test's dir only read-only: a container must not write to them.
      fc.record({ container_path: inside, host_path: fc.constantFrom('/dev/null', '/proc/self', '/etc/hostname'), readonly: fc.constant(true) }).map((m) => [m]),
    ),
    devices: fc.array(fc.record({ container_path: inside, host_path: fc.constantFrom('/dev/null', '/dev/zero', '/etc/hostname', 'dev/null', '/dev/nonexistent', '/dev'), permissions: fc.constantFrom('', 'rwm', 'r', 'xyz') }), { maxLength: 2 }),
    labels: dict(2),
    annotations: dict(2),
    log_path: fc.oneof(fc.constantFrom('../fz/escape.log', '/abs.log', 'a/../../b.log'), weird.map((s) => `x/${s}`), weird),
    stdin: fc.constant(true),
    tty: fc.constant(true),
    'linux.resources': hostileResources,
    'linux.security_context.privileged': fc.constant(true),
    'linux.security_context.capabilities': fc.record({ add_capabilities: fc.array(fc.constantFrom('NET_ADMIN', 'SYS_ADMIN', 'ALL', 'CAP_CHOWN', 'bogus', '', 'cap_sys_module'), { maxLength: 2 }), drop_capabilities: fc.array(fc.constantFrom('ALL', 'CHOWN', 'bogus', ''), { maxLength: 2 }) }),
    'linux.security_context.run_as_user': fc.record({ value: int64 }),
    'linux.security_context.run_as_group': fc.record({ value: int64 }),
    'linux.security_context.run_as_username': fc.oneof(fc.constantFrom('root', 'nobody', 'app', 'nosuchuser', '1000'), weird),
    'linux.security_context.supplemental_groups': fc.array(int64, { maxLength: 3 }),
    'linux.security_context.masked_paths': fc.array(inside, { maxLength: 2 }),
    'linux.security_context.readonly_paths': fc.array(inside, { maxLength: 2 }),
    'linux.security_context.seccomp': fc.record({ profile_type: fc.constantFrom('RuntimeDefault', 'Unconfined', 'Localhost'), localhost_ref: fc.oneof(fc.constantFrom('', '/nonexistent.json', '/etc/hostname', 'relative.json', '/dev/zero', '/proc/self/environ'), weird) }),
    'linux.security_context.seccomp_profile_path': fc.constantFrom('localhost//etc/passwd', 'runtime/default', 'unconfined', 'bogus'),
    'linux.security_context.namespace_options': fc.record({ pid: fc.constantFrom('POD', 'CONTAINER', 'NODE', 'TARGET'), network: fc.constantFrom('POD', 'NODE') }),
  });
  return fc.record({ config: valid, mutations: someOf(hostile) });
}

/** What is done with a created container: mostly good calls, some hostile ones. */
export const planArbitrary = fc.record({
  start: fc.oneof({ weight: 7, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  exec: fc.option(
    fc.record({
      cmd: fc.oneof({ weight: 4, arbitrary: fc.constantFrom<string[]>(['/bin/echo', 'hi'], ['/bin/sh', '-c', 'id; pwd'], ['/bin/true'], ['/bin/false'], ['/bin/cat', '/etc/hostname']) }, { weight: 1, arbitrary: fc.oneof(fc.array(weird, { maxLength: 3 }), fc.constant<string[]>([])) }),
      timeout: fc.oneof({ weight: 4, arbitrary: fc.constant(20) }, { weight: 1, arbitrary: fc.constantFrom<number | string>(0, -1, 3_000_000, '9223372036854775807', '-9223372036854775808') }),
    }),
    { freq: 2, nil: undefined },
  ),
  update: fc.option(resourcesArbitrary, { freq: 2, nil: undefined }),
  reopen: fc.boolean(),
  stats: fc.boolean(),
  /** Hostile only when the container ends by itself: a huge one would wait for it. */
  stopTimeout: fc.oneof({ weight: 5, arbitrary: fc.constantFrom<number | string>(0, 1) }, { weight: 1, arbitrary: fc.constantFrom<number | string>(-1, '-9223372036854775808', '9223372036854775807', 2 ** 31) }),
  remove: fc.boolean(),
});
