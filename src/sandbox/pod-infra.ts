import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CoracleError } from '../errors.js';
import type { CgroupHost } from '../oci/cgroup-host.js';
import { fitResources } from '../oci/cgroup-resources.js';
import type { OciRuntime } from '../oci/runtime.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { NATIVE_DIR } from '../util/native.js';
import { pinPidNamespace } from './namespace-pins.js';
import { processStartTime } from '../util/process-start-time.js';
import type { SandboxRecord } from './sandbox-store.js';

/** A started pause process: its pid, when it started, and its pid namespace's pin. */
export interface InfraProcess {
  pid: number;
  startTime: string;
  pin: string;
}

/**
 * The infra process of a pod that asks for a pod-wide pid namespace (pid POD): a pid
 * namespace cannot be pinned without a process in it, so native/coracle-pause holds it as
 * pid 1, run by the pod's OCI runtime under conmon in a root that holds only that binary.
 * No image is pulled for it. Pods without pid POD have no infra process at all.
 */
export class PodInfra {
  constructor(
    private readonly stateDir: string,
    private readonly runtime: (handler: string) => OciRuntime | undefined,
    /** The host's cgroups: on a v1 host without a devices hierarchy, no device rules. */
    private readonly cgroups: Pick<CgroupHost, 'layout' | 'controllers'>,
  ) {}

  private dir(podId: string): string {
    return join(this.stateDir, 'sandboxes', podId, 'infra');
  }

  /** Where conmon writes a pause process's exit, as `<pod id>`: one dir, one watcher. */
  get exitDir(): string {
    return join(this.stateDir, 'pod-exits');
  }

  private rt(pod: Pick<SandboxRecord, 'id' | 'runtimeHandler'>): OciRuntime {
    const rt = this.runtime(pod.runtimeHandler);
    if (!rt) throw new CoracleError('NOT_FOUND', `sandbox ${pod.id}: runtime handler "${pod.runtimeHandler}" is not configured`);
    return rt;
  }

  /**
   * Starts the pause process in the pod's namespaces and pins its pid namespace in
   * `pinDir`; a pause process gone before it is pinned fails the start.
   */
  async start(pod: SandboxRecord, pinDir: string): Promise<InfraProcess> {
    const dir = this.dir(pod.id);
    const rootfs = join(dir, 'rootfs');
    // runc needs /proc in the container to close its descriptors before exec.
    await mkdir(join(rootfs, 'proc'), { recursive: true });
    await mkdir(this.exitDir, { recursive: true });
    await rm(join(this.exitDir, pod.id), { force: true });
    await copyFile(join(NATIVE_DIR, 'coracle-pause'), join(rootfs, 'pause'));
    const namespaces: { type: string; path?: string }[] = [{ type: 'pid' }, { type: 'mount' }];
    if (pod.pins.net) namespaces.push({ type: 'network', path: pod.pins.net });
    if (pod.pins.ipc) namespaces.push({ type: 'ipc', path: pod.pins.ipc });
    if (pod.pins.uts) namespaces.push({ type: 'uts', path: pod.pins.uts });
    const spec = {
      ociVersion: '1.0.2',
      process: {
        terminal: false,
        user: { uid: 0, gid: 0 },
        args: ['/pause'],
        env: [],
        cwd: '/',
        capabilities: { bounding: [], effective: [], permitted: [] },
        noNewPrivileges: true,
      },
      root: { path: rootfs, readonly: true },
      mounts: [{ destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] }],
      linux: {
        namespaces,
        cgroupsPath: `${pod.cgroupParent || '/coracle'}/${pod.id}`,
        resources: fitResources({ devices: [{ allow: false, access: 'rwm' }] }, this.cgroups).resources,
        maskedPaths: [],
        readonlyPaths: [],
      },
    };
    await writeFileAtomic(join(dir, 'config.json'), JSON.stringify(spec));
    const rt = this.rt(pod);
    const pid = await rt.create({
      id: pod.id,
      bundle: dir,
      logPath: join(dir, 'pause.log'),
      exitDir: this.exitDir,
      persistDir: dir,
      attachDir: dir,
      stdin: false,
      stdinOnce: false,
      tty: false,
    });
    await rt.start(pod.id, pid);
    const startTime = await processStartTime(pid);
    if (startTime === undefined) throw new CoracleError('INTERNAL', `sandbox ${pod.id}: pause process ${pid} ended as it started (see ${join(dir, 'pause.log')})`);
    return { pid, startTime, pin: await pinPidNamespace(pinDir, pid, startTime, `sandbox ${pod.id}: pid namespace`) };
  }

  /** Ends the pause process; the pod's containers have gone first. */
  async stop(pod: SandboxRecord): Promise<void> {
    await this.rt(pod).kill(pod.id, 'SIGKILL', true).catch(() => undefined);
  }

  async remove(pod: SandboxRecord): Promise<void> {
    await this.rt(pod).delete(pod.id);
    await rm(this.dir(pod.id), { recursive: true, force: true });
    await rm(join(this.exitDir, pod.id), { force: true });
  }
}
