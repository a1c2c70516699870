import type { PodSandbox } from '../generated/runtime/v1/PodSandbox.js';
import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { PodSandboxStatus } from '../generated/runtime/v1/PodSandboxStatus.js';
import { invalidArgument } from '../errors.js';
import { int64 } from './int64.js';
import type { SandboxSpec } from '../sandbox/sandbox-service.js';
import type { NamespaceMode, SandboxRecord } from '../sandbox/sandbox-store.js';

const PROTOCOLS = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' } as const;

export function toSandboxSpec(config: PodSandboxConfig__Output | null, runtimeHandler: string): SandboxSpec {
  if (!config) throw invalidArgument('RunPodSandbox: config is required');
  const m = config.metadata;
  if (!m) throw invalidArgument('RunPodSandbox: config.metadata is required');
  const ns = config.linux?.security_context?.namespace_options;
  const dns = config.dns_config;
  return {
    metadata: { name: m.name, uid: m.uid, namespace: m.namespace, attempt: m.attempt },
    hostname: config.hostname,
    logDirectory: config.log_directory,
    runtimeHandler,
    labels: config.labels,
    annotations: config.annotations,
    dns: { servers: dns?.servers ?? [], searches: dns?.searches ?? [], options: dns?.options ?? [] },
    portMappings: config.port_mappings.map((p) => {
      if (p.container_port <= 0 || p.container_port > 65535 || p.host_port < 0 || p.host_port > 65535) {
        throw invalidArgument(`port mapping ${p.host_port}:${p.container_port}: ports must be 1 to 65535`);
      }
      return { protocol: PROTOCOLS[p.protocol as keyof typeof PROTOCOLS] ?? 'tcp', containerPort: p.container_port, hostPort: p.host_port, hostIp: p.host_ip };
    }),
    namespaces: {
      network: (ns?.network ?? 'POD') as NamespaceMode,
      ipc: (ns?.ipc ?? 'POD') as NamespaceMode,
      pid: (ns?.pid ?? 'CONTAINER') as NamespaceMode,
    },
    sysctls: config.linux?.sysctls ?? {},
    cgroupParent: config.linux?.cgroup_parent ?? '',
  };
}

const state = (r: SandboxRecord): 'SANDBOX_READY' | 'SANDBOX_NOTREADY' => (r.state === 'READY' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY');

export function toCriSandbox(r: SandboxRecord): PodSandbox {
  return {
    id: r.id,
    metadata: r.metadata,
    state: state(r),
    created_at: int64(r.createdAt),
    labels: r.labels,
    annotations: r.annotations,
    runtime_handler: r.runtimeHandler,
  };
}

export function toCriSandboxStatus(r: SandboxRecord): PodSandboxStatus {
  return {
    ...toCriSandbox(r),
    network: { ip: r.ip ?? '', additional_ips: r.additionalIps.map((ip) => ({ ip })) },
    linux: { namespaces: { options: { network: r.namespaces.network, ipc: r.namespaces.ipc, pid: r.namespaces.pid, target_id: '' } } },
  };
}
