import type { Resources } from '../oci/spec.js';
import type { SeccompRequest } from '../oci/seccomp.js';
import type { SandboxRecord } from '../sandbox/sandbox-store.js';
import type { ContainerMountRecord } from './container-store.js';
import type { DeviceRequest } from './host-sources.js';

/** A CreateContainer request, in Coracle's terms. */
export interface ContainerSpec {
  sandboxId: string;
  metadata: { name: string; attempt: number };
  image: string;
  command: string[];
  args: string[];
  workingDir: string;
  env: { key: string; value: string }[];
  mounts: ContainerMountRecord[];
  devices: DeviceRequest[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  logPath: string;
  stdin: boolean;
  stdinOnce: boolean;
  tty: boolean;
  resources: Resources & { oomScoreAdj?: number };
  security: {
    privileged: boolean;
    capAdd: string[];
    capDrop: string[];
    pid: 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
    runAsUser?: number;
    runAsUsername?: string;
    runAsGroup?: number;
    supplementalGroups: number[];
    readonlyRootfs: boolean;
    noNewPrivileges: boolean;
    maskedPaths: string[];
    readonlyPaths: string[];
    seccomp: SeccompRequest;
  };
}

export function containerName(m: ContainerSpec['metadata'], pod: SandboxRecord): string {
  return `k8s_${m.name}_${pod.metadata.name}_${pod.metadata.namespace}_${pod.metadata.uid}_${m.attempt}`;
}
