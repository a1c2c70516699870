import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { writeFileAtomic } from '../util/atomic-write.js';

export interface ContainerMountRecord {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  propagation: 'private' | 'rslave' | 'rshared';
}

/**
 * A container as Coracle keeps it. CREATING is written before the first side effect, so a
 * daemon killed half-way finds it at start and undoes it.
 */
export interface ContainerRecord {
  id: string;
  name: string;
  sandboxId: string;
  state: 'CREATING' | 'CREATED' | 'RUNNING' | 'EXITED';
  metadata: { name: string; attempt: number };
  /** The image as the request named it, its id, and the ref the ImageService reports. */
  image: { spec: string; id: string; ref: string };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  logPath: string;
  mounts: ContainerMountRecord[];
  runtimeHandler: string;
  stopSignal: string;
  /** The image layers the root is made of, kept from collection while the container lives. */
  chainIds: string[];
  tty: boolean;
  stdin: boolean;
  /** Nanoseconds since the epoch, as decimal strings. */
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  pid?: number;
  exitCode?: number;
  reason?: string;
  message?: string;
}

/** One directory per container under the root, its record written atomically. */
export class ContainerStore {
  private readonly records = new Map<string, ContainerRecord>();

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
        this.records.set(id, JSON.parse(await readFile(join(this.root, id, 'container.json'), 'utf8')) as ContainerRecord);
      } catch (err) {
        this.log.warn('container dir without a record: removed', { container: id, error: (err as Error).message });
        await rm(join(this.root, id), { recursive: true, force: true });
      }
    }
  }

  all(): ContainerRecord[] {
    return [...this.records.values()];
  }

  get(id: string): ContainerRecord | undefined {
    return this.records.get(id);
  }

  async save(record: ContainerRecord): Promise<void> {
    await mkdir(this.dir(record.id), { recursive: true });
    await writeFileAtomic(join(this.dir(record.id), 'container.json'), JSON.stringify(record) + '\n');
    this.records.set(record.id, record);
  }

  async remove(id: string): Promise<void> {
    this.records.delete(id);
    await rm(this.dir(id), { recursive: true, force: true });
  }
}
