import type { PodNetworkChoice } from '../netns/pod-network.js';
import type { DnsConfig, NamespaceMode, PortMapping } from './sandbox-store.js';

/** A RunPodSandbox request, in Coracle's terms. */
export interface SandboxSpec {
  /** The caller's namespace (absent: `k8s.io`). */
  namespace?: string;
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  hostname: string;
  logDirectory: string;
  runtimeHandler: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  dns: DnsConfig;
  portMappings: PortMapping[];
  namespaces: { network: NamespaceMode; ipc: NamespaceMode; pid: NamespaceMode };
  sysctls: Record<string, string>;
  cgroupParent: string;
  /** The network asked for by the caller (the CLI asks for the embedded one); else the default. */
  network?: PodNetworkChoice;
}
