import type { Logger } from '../log.js';
import { RecordStore } from '../util/record-store.js';

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
  /** Its pod's namespace (absent: `k8s.io`, src/sandbox/object-namespace.ts). */
  namespace?: string;
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
  /**
   * The image layers the root is made of, nearest last. Its active snapshot is made over the
   * last and holds them all from collection; a legacy container is adopted over it.
   */
  chainIds: string[];
  tty: boolean;
  stdin: boolean;
  /** The container's stdin closes when the first attach that wrote to it lets go. */
  stdinOnce?: boolean;
  /** Its pid namespace is the pod's or the host's: killing its init does not end its other processes. */
  sharedPid?: boolean;
  /** Nanoseconds since the epoch, as decimal strings. */
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  pid?: number;
  /** Its init's start time (/proc/PID/stat): with the pid, names that one process. */
  pidStartTime?: string;
  exitCode?: number;
  reason?: string;
  message?: string;
  /**
   * The restarts its restart policy (coracle run --restart) has made since it was last started
   * by hand, docker's RestartCount, and the backoff's last delay: kept here so that a daemon
   * restart neither resets an on-failure:N count nor the backoff. Absent: none.
   */
  restarts?: PolicyRestarts;
}

/** See ContainerRecord.restarts. */
export interface PolicyRestarts {
  count: number;
  delayMs: number;
}

/**
 * The container record's schema version. 2: the writable layer is the snapshotter's active
 * snapshot `container/<id>`; 1 (and 0) kept it in the record's dir as `upper` and `work`,
 * which recovery adopts into a snapshot (container-reconcile.ts).
 */
export const CONTAINER_SCHEMA_VERSION = 2;

/** One directory per container under the root, its record written atomically. */
export class ContainerStore extends RecordStore<ContainerRecord> {
  constructor(root: string, log: Logger) {
    super(root, 'container.json', 'container', log, CONTAINER_SCHEMA_VERSION);
  }
}
