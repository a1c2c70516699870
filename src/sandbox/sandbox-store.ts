import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { writeFileAtomic } from '../util/atomic-write.js';
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
  pins: NamespacePins;
  /** The pause process holding a pod-wide pid namespace (pid POD only). */
  infraPid?: number;
  ip?: string;
  additionalIps: string[];
}

/** One directory per sandbox under the root, its record written atomically. */
export class SandboxStore {
  private readonly records = new Map<string, SandboxRecord>();

  constructor(
    private readonly root: string,
    private readonly log: Logger,
  ) {}

  dir(id: string): string {
    return join(this.root, id);
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    for (const id of await readdir(this.root)) {
      if (!/^[a-f0-9]{64}$/.test(id)) continue;
      try {
        const record = JSON.parse(await readFile(join(this.root, id, 'sandbox.json'), 'utf8')) as SandboxRecord;
        this.records.set(record.id, record);
      } catch (err) {
        // No record: the daemon died before the first write; the dir is all there is.
        this.log.warn('sandbox dir without a record: removed', { sandbox: id, error: (err as Error).message });
        await rm(join(this.root, id), { recursive: true, force: true });
      }
    }
  }

  all(): SandboxRecord[] {
    return [...this.records.values()];
  }

  get(id: string): SandboxRecord | undefined {
    return this.records.get(id);
  }

  async save(record: SandboxRecord): Promise<void> {
    await mkdir(this.dir(record.id), { recursive: true });
    await writeFileAtomic(join(this.dir(record.id), 'sandbox.json'), JSON.stringify(record) + '\n');
    this.records.set(record.id, record);
  }

  async remove(id: string): Promise<void> {
    this.records.delete(id);
    await rm(this.dir(id), { recursive: true, force: true });
  }
}
