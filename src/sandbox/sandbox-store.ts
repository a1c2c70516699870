import type { PodNetworkChoice } from '../netns/pod-network.js';
import type { Logger } from '../log.js';
import { RecordStore } from '../util/record-store.js';
import type { NamespacePins } from './namespace-pins.js';

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';

export interface PortMapping {
  protocol: 'tcp' | 'udp' | 'sctp';
  containerPort: number;
  hostPort: number;
  hostIp: string;
}

export interface DnsConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

/**
 * A pod sandbox as Coracle keeps it. CREATING is written before the first side effect, so
 * that a daemon killed half-way finds the pod at start and tears down what it had made.
 */
export interface SandboxRecord {
  id: string;
  name: string;
  /** Whose pod it is: `k8s.io` (kubelet's; also when absent) or another client's (src/sandbox/object-namespace.ts). */
  namespace?: string;
  state: 'CREATING' | 'READY' | 'NOTREADY';
  /** Nanoseconds since the epoch, as a decimal string. */
  createdAt: string;
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  hostname: string;
  logDirectory: string;
  runtimeHandler: string;
  namespaces: { network: NamespaceMode; ipc: NamespaceMode; pid: NamespaceMode };
  sysctls: Record<string, string>;
  dns: DnsConfig;
  portMappings: PortMapping[];
  cgroupParent: string;
  /** The network the pod is attached to (absent: host network, or a record older than the choice: the cluster's). */
  network?: PodNetworkChoice;
  pins: NamespacePins;
  /** The pod's /dev/shm tmpfs, when it has an ipc namespace of its own. */
  shmPath?: string;
  /** The pause process holding a pod-wide pid namespace (pid POD only). */
  infraPid?: number;
  /** When that process started (/proc/PID/stat): a reused pid is not it. */
  infraStartTime?: string;
  ip?: string;
  additionalIps: string[];
}

/** One directory per sandbox under the root, its record written atomically. */
export class SandboxStore extends RecordStore<SandboxRecord> {
  constructor(root: string, log: Logger) {
    super(root, 'sandbox.json', 'sandbox', log);
  }
}
