import type { Container } from '../generated/runtime/v1/Container.js';
import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import type { ContainerStatus } from '../generated/runtime/v1/ContainerStatus.js';
import type { ContainerSpec } from '../container/container-service.js';
import type { ContainerRecord } from '../container/container-store.js';
import { invalidArgument } from '../errors.js';
import { int64 } from './int64.js';
import type { SeccompRequest } from '../oci/seccomp.js';
import type { Resources } from '../oci/spec.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';

const PROPAGATION = {
  PROPAGATION_PRIVATE: 'private',
  PROPAGATION_HOST_TO_CONTAINER: 'rslave',
  PROPAGATION_BIDIRECTIONAL: 'rshared',
} as const;
const CRI_PROPAGATION = { private: 'PROPAGATION_PRIVATE', rslave: 'PROPAGATION_HOST_TO_CONTAINER', rshared: 'PROPAGATION_BIDIRECTIONAL' } as const;

const num = (s: string | undefined): number => (s ? Number(s) : 0);

export function toResources(r: LinuxContainerResources__Output | null): Resources {
  return {
    cpuShares: num(r?.cpu_shares),
    cpuQuota: num(r?.cpu_quota),
    cpuPeriod: num(r?.cpu_period),
    cpusetCpus: r?.cpuset_cpus ?? '',
    cpusetMems: r?.cpuset_mems ?? '',
    memoryLimit: num(r?.memory_limit_in_bytes),
    hugepageLimits: (r?.hugepage_limits ?? []).map((h) => ({ pageSize: h.page_size, limit: Number(h.limit) })),
  };
}

export function toContainerSpec(sandboxId: string, config: ContainerConfig__Output | null): ContainerSpec {
  if (!sandboxId) throw invalidArgument('CreateContainer: pod_sandbox_id is empty');
  if (!config?.metadata) throw invalidArgument('CreateContainer: config.metadata is required');
  if (!config.image?.image) throw invalidArgument('CreateContainer: config.image is required');
  const sc = config.linux?.security_context;
  const r = config.linux?.resources;
  // The structured field wins; the legacy path is "unconfined", "runtime/default" or "localhost/PATH".
  const legacy = sc?.seccomp_profile_path ?? '';
  const seccomp: SeccompRequest = sc?.seccomp
    ? sc.seccomp.profile_type === 'Unconfined'
      ? { kind: 'unconfined' }
      : sc.seccomp.profile_type === 'Localhost'
        ? { kind: 'localhost', path: sc.seccomp.localhost_ref }
        : { kind: 'runtime-default' }
    : legacy === 'runtime/default' || legacy === 'docker/default'
      ? { kind: 'runtime-default' }
      : legacy.startsWith('localhost/')
        ? { kind: 'localhost', path: legacy.slice('localhost/'.length) }
        : { kind: 'unconfined' };
  return {
    sandboxId,
    metadata: { name: config.metadata.name, attempt: config.metadata.attempt },
    image: config.image.image,
    command: config.command,
    args: config.args,
    workingDir: config.working_dir,
    env: config.envs.map((e) => ({ key: e.key, value: Buffer.from(e.value).toString('utf8') })),
    mounts: config.mounts.map((m) => {
      // Status advertises no recursive_read_only_mounts: runc 1.1 has no "rro" to do it with.
      if (m.recursive_read_only) throw invalidArgument(`mount ${m.container_path}: recursive read-only mounts are not supported by this runtime`);
      return {
      containerPath: m.container_path,
      hostPath: m.host_path,
      readonly: m.readonly,
      propagation: PROPAGATION[m.propagation as keyof typeof PROPAGATION] ?? 'private',
      };
    }),
    devices: config.devices.map((d) => ({ hostPath: d.host_path, containerPath: d.container_path, permissions: d.permissions })),
    labels: config.labels,
    annotations: config.annotations,
    logPath: config.log_path,
    stdin: config.stdin,
    stdinOnce: config.stdin_once,
    tty: config.tty,
    resources: {
      ...toResources(r ?? null),
      ...(r?.oom_score_adj && r.oom_score_adj !== '0' ? { oomScoreAdj: Number(r.oom_score_adj) } : {}),
    },
    security: {
      privileged: sc?.privileged ?? false,
      capAdd: sc?.capabilities?.add_capabilities ?? [],
      capDrop: sc?.capabilities?.drop_capabilities ?? [],
      pid: (sc?.namespace_options?.pid ?? 'CONTAINER') as ContainerSpec['security']['pid'],
      ...(sc?.run_as_user ? { runAsUser: Number(sc.run_as_user.value) } : {}),
      ...(sc?.run_as_username ? { runAsUsername: sc.run_as_username } : {}),
      ...(sc?.run_as_group ? { runAsGroup: Number(sc.run_as_group.value) } : {}),
      supplementalGroups: (sc?.supplemental_groups ?? []).map(Number),
      readonlyRootfs: sc?.readonly_rootfs ?? false,
      noNewPrivileges: sc?.no_new_privs ?? false,
      maskedPaths: sc?.masked_paths ?? [],
      readonlyPaths: sc?.readonly_paths ?? [],
      seccomp,
    },
  };
}

const STATES = {
  CREATING: 'CONTAINER_UNKNOWN',
  CREATED: 'CONTAINER_CREATED',
  RUNNING: 'CONTAINER_RUNNING',
  EXITED: 'CONTAINER_EXITED',
} as const;

export function toCriContainer(c: ContainerRecord): Container {
  return {
    id: c.id,
    pod_sandbox_id: c.sandboxId,
    metadata: c.metadata,
    image: { image: c.image.spec, annotations: {} },
    image_ref: c.image.ref,
    image_id: c.image.id,
    state: STATES[c.state],
    created_at: int64(c.createdAt),
    labels: c.labels,
    annotations: c.annotations,
  };
}

export function toCriContainerStatus(c: ContainerRecord): ContainerStatus {
  return {
    id: c.id,
    metadata: c.metadata,
    state: STATES[c.state],
    created_at: int64(c.createdAt),
    started_at: int64(c.startedAt ?? '0'),
    finished_at: int64(c.finishedAt ?? '0'),
    exit_code: c.exitCode ?? 0,
    image: { image: c.image.spec, annotations: {} },
    image_ref: c.image.ref,
    image_id: c.image.id,
    reason: c.reason ?? '',
    message: c.message ?? '',
    labels: c.labels,
    annotations: c.annotations,
    mounts: c.mounts.map((m) => ({ container_path: m.containerPath, host_path: m.hostPath, readonly: m.readonly, propagation: CRI_PROPAGATION[m.propagation] })),
    log_path: c.logPath,
  };
}
