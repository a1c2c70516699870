import type { ContainerRecord } from '../../src/container/container-store.js';

/** A whole container record, running, for tests of what reads records; `over` replaces fields. */
export function containerRecord(over: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id: 'a'.repeat(64),
    name: 'k8s_c_p_ns_uid_0',
    sandboxId: 'b'.repeat(64),
    state: 'RUNNING',
    metadata: { name: 'c', attempt: 0 },
    image: { spec: 'busybox', id: 'sha256:x', ref: 'sha256:x' },
    labels: {},
    annotations: {},
    logPath: '',
    mounts: [],
    runtimeHandler: '',
    stopSignal: 'SIGTERM',
    chainIds: [],
    tty: false,
    stdin: false,
    createdAt: '1',
    pid: 1,
    ...over,
  };
}
