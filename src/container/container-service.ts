import { randomBytes } from 'node:crypto';
import { constants, existsSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { CoracleError, failedPrecondition, invalidArgument, isErrno, messageOf, notFound, withContext } from '../errors.js';
import type { ImageRecord } from '../image/image-store.js';
import type { Logger } from '../log.js';
import type { OciRuntime } from '../oci/runtime.js';
import { buildSpec, containerCapabilities, resources, type NamespaceSource, type Resources } from '../oci/spec.js';
import { containerArgs, mergeEnv } from '../oci/process-args.js';
import { seccompFor, type SeccompRequest } from '../oci/seccomp.js';
import { resolveUser } from '../oci/user.js';
import { probeCriu } from '../oci/criu-probe.js';
import type { CgroupHost } from '../oci/cgroup-host.js';
import { fitResourcesLogged } from '../oci/cgroup-resources.js';
import type { SandboxRecord } from '../sandbox/sandbox-store.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { mountRootfs, unmount } from '../util/mounts.js';
import { UndoStack } from '../util/undo-stack.js';
import { readFileInRoot } from '../util/in-root.js';
import type { ContainerMountRecord, ContainerRecord, ContainerStore } from './container-store.js';
import { exitFileNames, needsExitRead } from './exit-files.js';
import { UsageReader, type ContainerStatsRecord, type PodUsage } from './usage-reader.js';
import { attachRelay } from './attach-relay.js';
import { upperDirTar } from './layer-diff.js';
import { hostDevice, hostPath, type DeviceRequest } from './host-sources.js';
import { LayerHolds } from './image-refs.js';
import { vetContainerSpec } from './request-checks.js';
import { infraAlive } from '../sandbox/pod-pid.js';
import { processStartTime } from '../util/process-start-time.js';
import { containerProcesses, type TopEntry } from './container-top.js';
import { BackgroundTasks } from '../util/background.js';
import { ContainerReleases } from './container-release.js';
import { signalInit } from './container-signal.js';
import { ExitWaiters } from './exit-waiters.js';
import type { ExecStreamOptions, StdioSession, TerminalSize } from '../oci/stdio-session.js';


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

export interface ContainerFilter {
  id?: string;
  sandboxId?: string;
  state?: ContainerRecord['state'];
  labels?: Record<string, string>;
}

export interface ContainerDeps {
  store: ContainerStore;
  /** Volatile per-container dirs: root mount point, bundle, conmon's files. */
  stateDir: string;
  sandboxes: { get(id: string): SandboxRecord | undefined; podDir(id: string): string };
  images: {
    find(text: string): ImageRecord | undefined;
    commitLayer(base: string, layer: AsyncIterable<Buffer>, o: { tag?: string; createdBy: string; comment: string; author: string }, log: Logger): Promise<ImageRecord>;
    /** Image collection: run once a container's layers are let go. */
    collect(log: Logger): Promise<void>;
  };
  snapshots: { root: string; dir(chainId: string): string };
  runtime(handler: string): OciRuntime | undefined;
  /** The daemon's own oom_score_adj: no container goes below it (no CAP_SYS_RESOURCE here). */
  ownOomScoreAdj: number;
  /** The capabilities the daemon holds: all a container can be given. */
  allCapabilities: string[];
  /** The host's cgroups, detected at start: limits without a controller are left out. */
  cgroups: CgroupHost;
  events: { publish(id: string, sandboxId: string, type: 'CREATED' | 'STARTED' | 'STOPPED' | 'DELETED'): void };
  log: Logger;
}

/** ExecSync output kept per stream: kubelet's message limit is 16 MiB. */
const EXEC_OUTPUT_LIMIT = 16 << 20;

const nowNanos = (): string => (BigInt(Date.now()) * 1_000_000n).toString();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A stop waits for the watcher's word of the exit, and looks itself at least this often. */
const EXIT_POLL_MS = 100;
/** At shutdown, how long releases and removals in flight are waited for. */
const BACKGROUND_DRAIN_MS = 5_000;

export function containerName(m: ContainerSpec['metadata'], pod: SandboxRecord): string {
  return `k8s_${m.name}_${pod.metadata.name}_${pod.metadata.namespace}_${pod.metadata.uid}_${m.attempt}`;
}

/**
 * Containers: an overlay root over the image's layers, an OCI spec from the CRI config and
 * the image config, and the OCI runtime under conmon. Every CreateContainer completes or
 * leaves nothing; exits are read from what conmon wrote, so they are right even when they
 * happened while the daemon was down.
 */
export class ContainerService {
  /** Creates in flight, by name: a retry waits for the first; pod removal waits for them. */
  private readonly creating = new Map<string, { sandboxId: string; id: Promise<string> }>();
  private readonly holds = new LayerHolds();
  private readonly refreshing = new Map<string, Promise<ContainerRecord>>();
  /** Starts in flight, by container: a stop or removal waits for them. */
  private readonly starting = new Map<string, Promise<void>>();
  private readonly usage: UsageReader;
  private exitWatcher: FSWatcher | undefined;
  private readonly exitWaiters = new ExitWaiters();
  private readonly background: BackgroundTasks;
  private readonly releases: ContainerReleases;

  constructor(private readonly deps: ContainerDeps) {
    this.background = new BackgroundTasks(deps.log);
    this.releases = new ContainerReleases({ runtime: (h) => deps.runtime(h), rootfs: (id) => this.paths(id).rootfs }, this.background);
    this.usage = new UsageReader({ cgroups: deps.cgroups, upperDir: (id) => this.paths(id).upper, mountpoint: (id) => deps.store.dir(id) });
  }

  /**
   * Notices exits as conmon writes them (an exit file per container), so that a STOPPED
   * event goes out when the container stops, not when someone next asks about it.
   */
  async watchExits(): Promise<void> {
    const dir = join(this.deps.stateDir, 'exits');
    await mkdir(dir, { recursive: true });
    this.exitWatcher = watch(dir, (_event, name) => {
      const c = name ? this.deps.store.get(name.toString()) : undefined;
      if (c?.state === 'RUNNING') void this.refresh(c).catch((err: unknown) => this.deps.log.warn('exit not read', { container: c.id, error: messageOf(err) }));
    });
    this.exitWatcher.on('error', (err) => this.deps.log.warn('exit watch failed', { dir, error: err.message }));
  }

  /** Stops watching; waits (a few seconds at most) for the work RPCs left running. */
  async close(): Promise<void> {
    this.exitWatcher?.close();
    await this.background.drain(BACKGROUND_DRAIN_MS);
  }

  private paths(id: string): { state: string; rootfs: string; bundle: string; persist: string; upper: string; work: string; exitFile: string } {
    const state = join(this.deps.stateDir, id);
    const durable = this.deps.store.dir(id);
    return {
      state,
      rootfs: join(state, 'rootfs'),
      bundle: join(state, 'bundle'),
      persist: join(state, 'persist'),
      upper: join(durable, 'upper'),
      work: join(durable, 'work'),
      exitFile: join(this.deps.stateDir, 'exits', id),
    };
  }

  private runtimeFor(handler: string, id: string): OciRuntime {
    const rt = this.deps.runtime(handler);
    if (!rt) throw new CoracleError('NOT_FOUND', `container ${id}: runtime handler "${handler}" is not configured`);
    return rt;
  }

  create(spec: ContainerSpec, log: Logger): Promise<string> {
    const pod = this.deps.sandboxes.get(spec.sandboxId);
    if (!pod) throw notFound(`sandbox ${spec.sandboxId}: not found`);
    if (pod.state !== 'READY') throw failedPrecondition(`sandbox ${pod.id}: not ready`);
    if (!spec.metadata.name) throw invalidArgument('container metadata needs a name');
    const name = containerName(spec.metadata, pod);
    const pending = this.creating.get(name);
    if (pending) return pending.id;
    const existing = this.deps.store.all().find((c) => c.name === name);
    if (existing) {
      if (existing.state === 'CREATED') return Promise.resolve(existing.id);
      throw new CoracleError('ALREADY_EXISTS', `container name ${name} is reserved by ${existing.id} (${existing.state})`);
    }
    const image = this.deps.images.find(spec.image);
    if (!image) throw notFound(`image "${spec.image}": not found`);
    // Held in the tick the image is found: no RemoveImage or collection can take a layer
    // from under the root being built; the record holds them once saved.
    const release = this.holds.hold(image.layers.map((l) => l.chainId));
    const id = this.doCreate(name, spec, pod, image, log).finally(() => {
      this.creating.delete(name);
      release();
    });
    this.creating.set(name, { sandboxId: pod.id, id });
    return id;
  }

  /** Settles when the creates in flight in pod `sandboxId` have ended, whatever their outcome. */
  private async createsEnded(sandboxId: string, log: Logger): Promise<void> {
    const pending = [...this.creating.values()].filter((c) => c.sandboxId === sandboxId).map((c) => c.id);
    if (pending.length > 0) log.info('waiting for container creates in flight', { sandbox: sandboxId, count: pending.length });
    await Promise.allSettled(pending);
  }

  private async doCreate(name: string, spec: ContainerSpec, pod: SandboxRecord, image: ImageRecord, log: Logger): Promise<string> {
    const { store } = this.deps;
    const { privileged, capAdd, capDrop } = spec.security;
    const seccomp = await seccompFor(spec.security.seccomp, { privileged, capabilities: containerCapabilities({ privileged, capAdd, capDrop, allCapabilities: this.deps.allCapabilities }) });
    if (spec.security.pid === 'TARGET') throw new CoracleError('UNIMPLEMENTED', 'pid namespace TARGET: not supported yet');
    if (spec.security.pid === 'POD' && !pod.pins.pid) throw failedPrecondition(`sandbox ${pod.id}: has no pinned pod-wide pid namespace (its pid mode is ${pod.namespaces.pid})`);
    if (spec.security.pid === 'POD' && !(await infraAlive(pod))) throw failedPrecondition(`sandbox ${pod.id}: its pause process ${pod.infraPid} has ended`);
    if (spec.security.runAsGroup !== undefined && spec.security.runAsUser === undefined && !spec.security.runAsUsername) {
      throw invalidArgument('run_as_group needs run_as_user or run_as_username');
    }
    await vetContainerSpec(spec);
    const id = randomBytes(32).toString('hex');
    const clog = log.child({ container: id, sandbox: pod.id });
    // Its handler is checked now, though the runtime is first called at start.
    this.runtimeFor(pod.runtimeHandler, id);
    const p = this.paths(id);
    const record: ContainerRecord = {
      id,
      name,
      sandboxId: pod.id,
      state: 'CREATING',
      metadata: spec.metadata,
      image: { spec: spec.image, id: image.id, ref: image.repoDigests[0] ?? image.id },
      labels: spec.labels,
      annotations: spec.annotations,
      logPath: spec.logPath && pod.logDirectory ? join(pod.logDirectory, spec.logPath) : '',
      mounts: spec.mounts,
      runtimeHandler: pod.runtimeHandler,
      stopSignal: image.config.stopSignal || 'SIGTERM',
      chainIds: image.layers.map((l) => l.chainId),
      tty: spec.tty,
      stdin: spec.stdin,
      stdinOnce: spec.stdinOnce,
      sharedPid: spec.security.pid !== 'CONTAINER',
      createdAt: nowNanos(),
    };
    const undo = new UndoStack();
    try {
      // Before the save: one that fails half-way (ENOSPC) may have made the record's dir.
      undo.push('remove record', () => store.remove(id));
      await store.save(record);
      const attachDir = join(this.deps.stateDir, 'attach');
      await Promise.all([p.upper, p.work, p.rootfs, p.bundle, p.persist, dirname(p.exitFile), attachDir].map((d) => mkdir(d, { recursive: true })));
      undo.push('remove state dir', () => rm(p.state, { recursive: true, force: true }));
      await this.mountRoot(id, record.chainIds);
      undo.push('unmount rootfs', () => unmount(p.rootfs, `container ${id}: rootfs`));
      const mounts = await Promise.all(spec.mounts.map((m) => hostPath(m)));
      // Inside the root, a regular file of at most 1 MiB, or a clear error: never a FIFO.
      const readEtc = async (f: string): Promise<string> => (await readFileInRoot(p.rootfs, `etc/${f}`, `/etc/${f} in the image`))?.toString('utf8') ?? '';
      const [passwd, group] = await Promise.all([readEtc('passwd'), readEtc('group')]);
      const user = resolveUser(
        {
          ...(spec.security.runAsUser !== undefined ? { runAsUser: spec.security.runAsUser } : {}),
          ...(spec.security.runAsUsername ? { runAsUsername: spec.security.runAsUsername } : {}),
          ...(spec.security.runAsGroup !== undefined ? { runAsGroup: spec.security.runAsGroup } : {}),
          supplementalGroups: spec.security.supplementalGroups,
          imageUser: image.config.user,
        },
        passwd,
        group,
      );
      const args = containerArgs(image.config, spec);
      if (args.length === 0) throw invalidArgument(`container ${name}: no command: neither the request nor the image gives one`);
      const podDir = this.deps.sandboxes.podDir(pod.id);
      const ns = (pin: string | undefined): NamespaceSource => (pin ? { path: pin } : 'host');
      const ociSpec = buildSpec({
        rootfs: p.rootfs,
        readonlyRootfs: spec.security.readonlyRootfs,
        args,
        env: mergeEnv(image.config.env, spec.env),
        cwd: spec.workingDir || image.config.workingDir || '/',
        terminal: spec.tty,
        user,
        capAdd: spec.security.capAdd,
        capDrop: spec.security.capDrop,
        allCapabilities: this.deps.allCapabilities,
        privileged: spec.security.privileged,
        noNewPrivileges: spec.security.noNewPrivileges,
        ...(spec.resources.oomScoreAdj !== undefined ? { oomScoreAdj: Math.max(spec.resources.oomScoreAdj, this.deps.ownOomScoreAdj) } : {}),
        namespaces: { net: ns(pod.pins.net), ipc: ns(pod.pins.ipc), uts: ns(pod.pins.uts), pid: spec.security.pid === 'NODE' ? 'host' : spec.security.pid === 'POD' ? { path: pod.pins.pid! } : 'new', cgroup: this.deps.cgroups.layout === 'unified' ? 'new' : 'host' },
        podFiles: { resolvConf: join(podDir, 'resolv.conf'), hostname: join(podDir, 'hostname'), hosts: join(podDir, 'hosts') },
        shm: pod.shmPath ?? (pod.namespaces.ipc === 'NODE' ? '/dev/shm' : undefined),
        mounts,
        maskedPaths: spec.security.maskedPaths,
        readonlyPaths: spec.security.readonlyPaths,
        cgroupsPath: `${pod.cgroupParent || '/coracle'}/${id}`,
        resources: spec.resources,
        devices: await Promise.all(spec.devices.map((d) => hostDevice(d))),
        annotations: spec.annotations,
        ...(seccomp ? { seccomp } : {}),
      });
      ociSpec.linux.resources = fitResourcesLogged(ociSpec.linux.resources, this.deps.cgroups, clog, { name });
      await Promise.all([writeFileAtomic(join(p.bundle, 'config.json'), JSON.stringify(ociSpec)), record.logPath ? mkdir(dirname(record.logPath), { recursive: true }) : undefined]);
      // The runtime's container is made by StartContainer, as containerd makes its task
      // there: CREATED is a root, a bundle and a record, with no process and no monitor.
      record.state = 'CREATED';
      await store.save(record);
      undo.clear();
      clog.info('container created', { name, image: image.id });
      this.deps.events.publish(id, spec.sandboxId, 'CREATED');
      return id;
    } catch (err) {
      clog.warn('container create failed: undoing', { error: messageOf(err) });
      await undo.unwind(clog);
      throw withContext(`container ${name}`, err);
    }
  }

  /** Its root: the overlay of its image's layers (nearest first) under its own upper dir. */
  private async mountRoot(id: string, chainIds: string[]): Promise<void> {
    const { snapshots } = this.deps;
    const p = this.paths(id);
    const lowers = [...chainIds].reverse().map((chainId) => snapshots.dir(chainId).slice(snapshots.root.length + 1));
    await mountRootfs({ target: p.rootfs, upper: p.upper, work: p.work, lowerRoot: snapshots.root, lowers }, `container ${id}: rootfs`);
  }

  resolve(id: string): ContainerRecord | undefined {
    return this.deps.store.resolve(id);
  }

  private mustGet(id: string): ContainerRecord {
    const c = this.resolve(id);
    if (!c || c.state === 'CREATING') throw notFound(`container ${id}: not found`);
    return c;
  }

  /** Brings a record up to date with what conmon wrote: an exit, its code, its cause. */
  private refresh(given: ContainerRecord): Promise<ContainerRecord> {
    // The store's copy, not the caller's: a caller holding an older one must not read an
    // exit that was recorded (and announced) since.
    const c = this.deps.store.get(given.id) ?? given;
    if (c.state !== 'RUNNING') return Promise.resolve(c);
    // No exit file, no exit: the answer readExit's failed open would give, without a trip
    // to the thread pool and an ENOENT error object on every Status call. A stat of a name
    // in the daemon's own state dir (tmpfs under /run by default) does not wait on a disk.
    if (!existsSync(this.paths(c.id).exitFile)) return Promise.resolve(c);
    // The exit watcher and a caller may look at once: one read and one save per container.
    let pending = this.refreshing.get(c.id);
    if (!pending) {
      pending = this.readExit(c).finally(() => this.refreshing.delete(c.id));
      this.refreshing.set(c.id, pending);
    }
    return pending;
  }

  private async readExit(c: ContainerRecord): Promise<ContainerRecord> {
    const p = this.paths(c.id);
    let text: string;
    let mtime: Date;
    try {
      text = await readFile(p.exitFile, 'utf8');
      mtime = (await stat(p.exitFile)).mtime;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return c;
      throw err;
    }
    // Seen while conmon is still writing it: the next change event comes with the code.
    if (text.trim() === '') return c;
    const code = Number(text.trim());
    const oom = await stat(join(p.persist, 'oom')).then(() => true, () => false);
    const updated: ContainerRecord = {
      ...c,
      state: 'EXITED',
      exitCode: Number.isFinite(code) ? code : 255,
      finishedAt: (BigInt(mtime.getTime()) * 1_000_000n).toString(),
      reason: oom ? 'OOMKilled' : code === 0 ? 'Completed' : 'Error',
    };
    await this.deps.store.save(updated);
    this.releases.begin(updated);
    this.exitWaiters.wake(c.id);
    this.deps.events.publish(c.id, c.sandboxId, 'STOPPED');
    return updated;
  }

  /**
   * A pod's usage: the sum of its containers', the interfaces of its network namespace (read
   * through any process in it), and how many processes its containers run.
   */
  async podStats(sandboxId: string): Promise<PodUsage> {
    const pod = this.deps.sandboxes.get(sandboxId);
    if (!pod) throw notFound(`sandbox ${sandboxId}: not found`);
    return this.usage.pod(pod, await this.list({ sandboxId: pod.id }));
  }

  /**
   * The usage of each pod of `sandboxIds` that still exists (one removed meanwhile is left
   * out), their containers listed once for all: one read of the exit dir, not one per pod.
   */
  async podsStats(sandboxIds: string[]): Promise<Map<string, PodUsage>> {
    const bySandbox = new Map<string, ContainerRecord[]>();
    for (const c of await this.list()) {
      const list = bySandbox.get(c.sandboxId);
      if (list) list.push(c);
      else bySandbox.set(c.sandboxId, [c]);
    }
    const out = new Map<string, PodUsage>();
    await Promise.all(
      sandboxIds.map(async (id) => {
        const pod = this.deps.sandboxes.get(id);
        if (pod) out.set(id, await this.usage.pod(pod, bySandbox.get(id) ?? []));
      }),
    );
    return out;
  }

  /** New cgroup limits for a created or running container. */
  async updateResources(id: string, r: Resources): Promise<void> {
    await this.startEnded(this.mustGet(id).id);
    const c = await this.refresh(this.mustGet(id));
    if (c.state !== 'RUNNING' && c.state !== 'CREATED') throw failedPrecondition(`container ${c.id}: update resources: it is ${c.state.toLowerCase()}`);
    const p = this.paths(c.id);
    const limits = fitResourcesLogged(resources(r, undefined, false), this.deps.cgroups, this.deps.log, { container: c.id });
    if (c.pid === undefined) {
      // Not in the runtime yet: the limits go into the bundle its start creates it from.
      const bundleSpec = JSON.parse(await readFile(join(p.bundle, 'config.json'), 'utf8')) as { linux: { resources?: object } };
      bundleSpec.linux.resources = { ...bundleSpec.linux.resources, ...limits };
      await writeFileAtomic(join(p.bundle, 'config.json'), JSON.stringify(bundleSpec));
      return;
    }
    const file = join(p.state, `resources-${randomBytes(4).toString('hex')}.json`);
    await writeFileAtomic(file, JSON.stringify(limits));
    try {
      await this.runtimeFor(c.runtimeHandler, c.id).update(c.id, file);
    } finally {
      await rm(file, { force: true });
    }
  }

  /** Usage of one container: cgroup counters while its processes live, its writable layer. */
  async stats(id: string): Promise<ContainerStatsRecord> {
    return this.usage.container(await this.refresh(this.mustGet(id)));
  }

  /** Usage of the containers `filter` lists, their exits read once by the list. */
  async listStats(filter: ContainerFilter = {}): Promise<ContainerStatsRecord[]> {
    return Promise.all((await this.list(filter)).map((c) => this.usage.container(c)));
  }

  /** Runs `cmd` in a running container as its main process runs (user, env, cwd). */
  async execSync(id: string, cmd: string[], timeoutSeconds: number): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
    const { c, processFile, pidFile, release } = await this.prepareExec(id, cmd, false);
    try {
      return await this.runtimeFor(c.runtimeHandler, c.id).exec(c.id, processFile, pidFile, timeoutSeconds * 1000, EXEC_OUTPUT_LIMIT);
    } finally {
      await release();
    }
  }

  /** Runs `cmd` in a running container with its stdio live: the streaming server's exec. */
  async execStream(id: string, cmd: string[], o: ExecStreamOptions): Promise<StdioSession> {
    const { c, processFile, pidFile, release } = await this.prepareExec(id, cmd, o.tty, o.size);
    try {
      const session = this.runtimeFor(c.runtimeHandler, c.id).execStream(c.id, processFile, pidFile, o);
      void session.done.catch(() => undefined).finally(() => release());
      return session;
    } catch (err) {
      await release();
      throw err;
    }
  }

  /** The process spec of an exec: the container's own, with another command. */
  private async prepareExec(id: string, cmd: string[], terminal: boolean, size?: TerminalSize): Promise<{ c: ContainerRecord; processFile: string; pidFile: string; release(): Promise<void> }> {
    const c = await this.refresh(this.mustGet(id));
    if (c.state !== 'RUNNING') throw failedPrecondition(`container ${c.id}: exec: not running`);
    if (cmd.length === 0) throw invalidArgument(`container ${c.id}: exec: no command`);
    const p = this.paths(c.id);
    const spec = JSON.parse(await readFile(join(p.bundle, 'config.json'), 'utf8')) as { process: Record<string, unknown> };
    const tag = randomBytes(6).toString('hex');
    const processFile = join(p.state, `exec-${tag}.json`);
    const pidFile = join(p.state, `exec-${tag}.pid`);
    // runc sizes the console it makes before the process starts (consoleSize), not after.
    const consoleSize = terminal && size && size.width > 0 && size.height > 0 ? { consoleSize: { width: size.width, height: size.height } } : {};
    await writeFileAtomic(processFile, JSON.stringify({ ...spec.process, args: cmd, terminal, ...consoleSize }));
    return {
      c,
      processFile,
      pidFile,
      release: async () => {
        await rm(processFile, { force: true });
        await rm(pidFile, { force: true });
      },
    };
  }

  /**
   * Joins the container's own stdio through its monitor. A terminal is resized through
   * conmon's control FIFO; detaching leaves the container running.
   */
  async attach(id: string): Promise<StdioSession> {
    const c = await this.refresh(this.mustGet(id));
    if (c.state !== 'RUNNING') throw failedPrecondition(`container ${c.id}: attach: not running`);
    const resize = ({ width, height }: TerminalSize): void => {
      if (width <= 0 || height <= 0) return;
      void this.control(c.id, `1 ${height} ${width}\n`).catch((err: unknown) => this.deps.log.info('attach: resize failed', { container: c.id, error: messageOf(err) }));
    };
    const session = await attachRelay(join(this.deps.stateDir, 'attach', c.id, 'attach'), resize, `container ${c.id}: attach`);
    // As CRI-O does: a client closing its stdin detaches, unless that is meant to close the
    // container's stdin (stdin_once), whose end then comes with the container's output.
    return { ...session, detachOnStdinEnd: !c.stdinOnce };
  }

  /** One message on conmon's control FIFO in the bundle: "<type> <height> <width>". */
  private async control(id: string, message: string): Promise<void> {
    const fifo = join(this.paths(id).bundle, 'ctl');
    // Non-blocking: a FIFO with no reader (conmon gone) must fail, not hang the call.
    const fh = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK).catch((err: unknown) => {
      throw new CoracleError('FAILED_PRECONDITION', `container ${id}: monitor unreachable: ${messageOf(err)}`);
    });
    try {
      await fh.write(message);
    } catch (err) {
      // The reader went between the open and the write: conmon is ending with its container.
      if (isErrno(err, 'EPIPE')) throw new CoracleError('FAILED_PRECONDITION', `container ${id}: monitor unreachable: it has exited`);
      throw err;
    } finally {
      await fh.close();
    }
  }

  /**
   * docker commit: the container's read-write layer becomes a new layer on top of its
   * image. A running container is read as it is, without a pause.
   */
  async commit(id: string, o: { tag?: string; comment: string; author: string }, log: Logger): Promise<ImageRecord> {
    const c = await this.refresh(this.mustGet(id));
    const command = JSON.stringify(JSON.parse(await readFile(join(this.paths(c.id).bundle, 'config.json'), 'utf8').catch(() => '{}')).process?.args ?? []);
    const image = await this.deps.images.commitLayer(c.image.id, upperDirTar(this.paths(c.id).upper), { ...o, createdBy: `coracle commit ${c.id.slice(0, 12)}: ${command}` }, log);
    log.info('container committed', { container: c.id, image: image.id, tag: o.tag });
    return image;
  }

  /** The processes of a running container (docker top). */
  async top(id: string): Promise<TopEntry[]> {
    const c = await this.refresh(this.mustGet(id));
    if (c.state !== 'RUNNING' || c.pid === undefined) throw failedPrecondition(`container ${c.id}: top: not running`);
    return containerProcesses(c.pid, this.deps.cgroups);
  }

  /**
   * CheckpointContainer. A checkpoint is CRIU's dump of the running processes (through
   * `runc checkpoint`); where CRIU cannot run on the host's kernel the call is refused
   * with CRIU's own reason rather than attempted.
   */
  async checkpoint(id: string, location: string): Promise<never> {
    const c = await this.refresh(this.mustGet(id));
    if (!location || !isAbsolute(location)) throw invalidArgument(`container ${c.id}: checkpoint: location must be an absolute path, got ${JSON.stringify(location)}`);
    if (c.state !== 'RUNNING') throw failedPrecondition(`container ${c.id}: checkpoint: not running`);
    const criu = await probeCriu();
    if (!criu.usable) throw failedPrecondition(`container ${c.id}: checkpoint: CRIU cannot run on this host: ${criu.reason}`);
    throw new CoracleError('UNIMPLEMENTED', `container ${c.id}: checkpoint: writing checkpoint archives is not implemented yet`);
  }

  /**
   * Makes conmon open the log path again (kubelet renamed the file to rotate it): a "reopen
   * log" message on conmon's control FIFO in the bundle, as CRI-O sends it.
   */
  async reopenLog(id: string): Promise<void> {
    const c = await this.refresh(this.mustGet(id));
    if (c.state !== 'RUNNING') throw failedPrecondition(`container ${c.id}: reopen log: not running`);
    await this.control(c.id, '2 0 0\n');
    // conmon reopens asynchronously; kubelet expects the file to be there when we answer.
    for (let i = 0; i < 100 && c.logPath; i++) {
      if (await stat(c.logPath).then(() => true, () => false)) return;
      await sleep(10);
    }
  }

  /**
   * Runs an exited container again with its root filesystem as it left it (docker start;
   * kubelet never asks: CRI makes a new container instead). The runtime's dead container
   * is deleted and created anew from the same bundle, under a new monitor; its log goes on.
   */
  async restart(id: string, log: Logger): Promise<void> {
    const c = await this.refresh(this.mustGet(id));
    if (c.state === 'CREATED') return this.start(c.id, log);
    if (c.state !== 'EXITED') throw failedPrecondition(`container ${c.id}: start: is ${c.state.toLowerCase()}`);
    const pod = this.deps.sandboxes.get(c.sandboxId);
    if (!pod || pod.state !== 'READY') throw failedPrecondition(`container ${c.id}: start: its pod is not ready`);
    const p = this.paths(c.id);
    if (!(await stat(join(p.bundle, 'config.json')).then(() => true, () => false))) {
      throw failedPrecondition(`container ${c.id}: start: its runtime state is gone (the host restarted?)`);
    }
    this.runtimeFor(c.runtimeHandler, c.id);
    // Its exit released its root and the runtime's container: the start makes both again.
    await this.releases.now(c);
    await this.mountRoot(c.id, c.chainIds);
    this.releases.forget(c.id);
    await rm(p.exitFile, { force: true });
    await rm(join(p.persist, 'oom'), { force: true });
    const { exitCode: _code, finishedAt: _finished, reason: _reason, message: _message, pid: _pid, pidStartTime: _started, ...rest } = c;
    await this.deps.store.save({ ...rest, state: 'CREATED' });
    await this.start(c.id, log);
  }

  /** Starts a CREATED container; a second call while the first runs gets the first's outcome. */
  async start(id: string, log: Logger): Promise<void> {
    const c = this.mustGet(id);
    const pending = this.starting.get(c.id);
    if (pending) return pending;
    if (c.state !== 'CREATED') throw failedPrecondition(`container ${c.id}: is ${c.state.toLowerCase()}, not created`);
    if (this.deps.sandboxes.get(c.sandboxId)?.state !== 'READY') throw failedPrecondition(`container ${c.id}: start: its pod ${c.sandboxId} is not ready (stopped or stopping)`);
    const started = this.doStart(c, log).finally(() => this.starting.delete(c.id));
    this.starting.set(c.id, started);
    return started;
  }

  /** Settles when a start of `id` in flight has, whatever its outcome. */
  private async startEnded(id: string): Promise<void> {
    await this.starting.get(id)?.catch(() => undefined);
  }

  /**
   * The runtime's container under a new monitor (conmon runs the runtime's `create` and
   * reports the init's pid), then the runtime's `start`. A failure leaves the container
   * EXITED with reason StartError and the error as its message, its runtime container
   * deleted, as containerd does: kubelet makes a new one.
   */
  private async doStart(c: ContainerRecord, log: Logger): Promise<void> {
    const rt = this.runtimeFor(c.runtimeHandler, c.id);
    const p = this.paths(c.id);
    let made = c;
    try {
      if (c.pid === undefined) {
        const pid = await rt.create({
          id: c.id,
          bundle: p.bundle,
          logPath: c.logPath || join(p.state, 'unlogged.log'),
          exitDir: dirname(p.exitFile),
          persistDir: p.persist,
          attachDir: join(this.deps.stateDir, 'attach'),
          stdin: c.stdin,
          stdinOnce: c.stdinOnce ?? false,
          tty: c.tty,
        });
        const pidStartTime = await processStartTime(pid);
        made = { ...c, pid, ...(pidStartTime !== undefined ? { pidStartTime } : {}) };
      }
      // Taken before: a short process can end (and conmon stamp its exit) before start returns.
      const startedAt = nowNanos();
      await rt.start(c.id, made.pid);
      const running: ContainerRecord = { ...made, state: 'RUNNING', startedAt };
      await this.deps.store.save(running);
      log.info('container started', { container: c.id });
      this.deps.events.publish(c.id, c.sandboxId, 'STARTED');
      // An exit the watcher saw while the record still said CREATED was passed over: looked
      // for once now, so that a short process is noticed (and released) without a call.
      void this.refresh(running).catch((err: unknown) => log.warn('exit not read', { container: c.id, error: messageOf(err) }));
    } catch (err) {
      log.warn('container start failed', { container: c.id, error: messageOf(err) });
      await rt.delete(c.id).catch((e: unknown) => log.warn('runtime delete after a failed start failed', { container: c.id, error: messageOf(e) }));
      const failed: ContainerRecord = { ...made, state: 'EXITED', exitCode: 128, finishedAt: nowNanos(), reason: 'StartError', message: messageOf(err) };
      await this.deps.store.save(failed);
      this.releases.begin(failed);
      this.deps.events.publish(c.id, c.sandboxId, 'STOPPED');
      throw err;
    }
  }

  async status(id: string): Promise<ContainerRecord> {
    return this.refresh(this.mustGet(id));
  }

  async list(filter: ContainerFilter = {}): Promise<ContainerRecord[]> {
    // Id, pod and labels never change: filtered first, so that a pod's list (its stats)
    // reads nothing of other pods' containers. State is filtered once exits are read.
    const matching = this.deps.store.all().filter((c) => {
      if (c.state === 'CREATING') return false;
      if (filter.id && !c.id.startsWith(filter.id)) return false;
      if (filter.sandboxId && c.sandboxId !== filter.sandboxId) return false;
      for (const [k, v] of Object.entries(filter.labels ?? {})) if (c.labels[k] !== v) return false;
      return true;
    });
    // One readdir of the exit dir, and an exit file read only where there is one (see
    // needsExitRead for why that sees every exit that reading each file would).
    const names = matching.some((c) => c.state === 'RUNNING') ? await exitFileNames(join(this.deps.stateDir, 'exits')) : undefined;
    const now = await Promise.all(matching.map((c) => (needsExitRead(c, names) ? this.refresh(c) : (this.deps.store.get(c.id) ?? c))));
    return filter.state ? now.filter((c) => c.state === filter.state) : now;
  }

  /** Until it has exited or `ms` have passed: woken by the exit watcher, or by its own look. */
  private async waitExit(c: ContainerRecord, ms: number): Promise<ContainerRecord> {
    const deadline = Date.now() + ms;
    for (;;) {
      const woken = this.exitWaiters.wait(c.id, Math.min(EXIT_POLL_MS, Math.max(1, deadline - Date.now())));
      const now = await this.refresh(c);
      if (now.state !== 'RUNNING' || Date.now() >= deadline) {
        woken.cancel();
        return now;
      }
      await woken.done;
    }
  }

  /** The stop signal, then SIGKILL after `timeoutSeconds`; a stopped container is no error. */
  async stop(id: string, timeoutSeconds: number, log: Logger): Promise<void> {
    await this.startEnded(this.mustGet(id).id);
    let c = await this.refresh(this.mustGet(id));
    const rt = this.runtimeFor(c.runtimeHandler, c.id);
    if (c.state === 'CREATED') {
      // Never started: no process to signal; at most a runtime init (made by a restart).
      if (c.pid !== undefined) await rt.kill(c.id, 'SIGKILL', true).catch(() => undefined);
      await this.deps.store.save({ ...c, state: 'EXITED', exitCode: 0, finishedAt: nowNanos(), reason: 'Completed' });
      await this.releases.now(c);
      return;
    }
    const wasRunning = c.state === 'RUNNING';
    if (c.state === 'RUNNING' && timeoutSeconds > 0) {
      await signalInit(c, c.stopSignal, rt).catch((err: unknown) => log.debug('stop signal not sent', { container: c.id, error: messageOf(err) }));
      c = await this.waitExit(c, timeoutSeconds * 1000);
    }
    if (c.state === 'RUNNING') {
      // With a pid namespace of its own, SIGKILL to its init ends them all; `--all` (runc's
      // freezer walk of the cgroup) only where other processes could outlive it.
      await signalInit(c, 'SIGKILL', rt, c.sharedPid ?? true).catch((err: unknown) => log.debug('SIGKILL not sent', { container: c.id, error: messageOf(err) }));
      c = await this.waitExit(c, 10_000);
      if (c.state === 'RUNNING') throw new CoracleError('DEADLINE_EXCEEDED', `container ${c.id}: stop: still running 10 s after SIGKILL`);
    }
    if (wasRunning) log.info('container stopped', { container: c.id, exitCode: c.exitCode });
    // As containerd's StopContainer, done once the runtime's container is deleted: its root
    // is unmounted and its cgroups are gone by the time the call returns.
    await this.releases.now(c);
  }

  /** Kills it if it runs, deletes it from the runtime, unmounts its root; unknown is no error. */
  async remove(id: string, log: Logger): Promise<void> {
    const found = this.resolve(id);
    // Still being made: not there yet (containerd's answer); its create completes or undoes.
    if (!found || found.state === 'CREATING') return;
    await this.startEnded(found.id);
    const c = this.deps.store.get(found.id) ?? found;
    if (c.state === 'RUNNING' || c.state === 'CREATED') await this.stop(c.id, 0, log);
    else await this.releases.now(c);
    const p = this.paths(c.id);
    // The record's dir (its upper dir too) is renamed out of the store in one step, and
    // removed after the answer with the volatile state: a daemon killed before that finds
    // no record, and collects both at start (the trash, and state of no container).
    const trash = await this.deps.store.discard(c.id);
    this.releases.forget(c.id);
    this.usage.forget(c.id);
    log.info('container removed', { container: c.id });
    this.deps.events.publish(c.id, c.sandboxId, 'DELETED');
    void this.background.run(`remove:${c.id}`, `container ${c.id}: removing its files`, async () => {
      await Promise.all([rm(p.state, { recursive: true, force: true }), rm(p.exitFile, { force: true }), rm(trash, { recursive: true, force: true })]);
    });
    // Its layers are held by its image while that exists: only an image removed under a
    // living container leaves layers to collect now.
    if (!this.deps.images.find(c.image.id)) {
      await this.deps.images.collect(log).catch((err: unknown) => log.warn('collecting the layers it let go failed', { error: messageOf(err) }));
    }
  }

  private async teardown(c: ContainerRecord): Promise<void> {
    const p = this.paths(c.id);
    const rt = this.deps.runtime(c.runtimeHandler);
    if (rt) await rt.delete(c.id);
    await unmount(p.rootfs, `container ${c.id}: rootfs`);
    await rm(p.state, { recursive: true, force: true });
    await rm(p.exitFile, { force: true });
    await this.deps.store.remove(c.id);
    this.usage.forget(c.id);
  }

  async stopAll(sandboxId: string, log: Logger): Promise<void> {
    await this.createsEnded(sandboxId, log);
    for (const c of this.deps.store.all().filter((x) => x.sandboxId === sandboxId && x.state !== 'CREATING')) await this.stop(c.id, 0, log);
  }

  async removeAll(sandboxId: string, log: Logger): Promise<void> {
    await this.createsEnded(sandboxId, log);
    const ids = this.deps.store.all().filter((x) => x.sandboxId === sandboxId).map((c) => c.id);
    for (const id of ids) await this.remove(id, log);
    // A removed pod leaves none of its containers' files behind.
    await Promise.all(ids.map((id) => this.background.settled(`remove:${id}`)));
  }

  /** Layers that containers' roots are made of: image collection keeps them. */
  *chainIdsInUse(): Iterable<string> {
    for (const c of this.deps.store.all()) yield* c.chainIds;
    yield* this.holds.held();
  }

  /**
   * At start: containers a killed daemon left CREATING are undone; exits are read; and the
   * state dirs of containers with no record (a lost record) are collected with their root
   * mount and runtime container (their monitor ends with them).
   */
  async reconcile(): Promise<void> {
    const known = new Set(this.deps.store.all().map((c) => c.id));
    for (const id of await readdir(this.deps.stateDir).catch(() => [] as string[])) {
      if (!/^[a-f0-9]{64}$/.test(id) || known.has(id)) continue;
      this.deps.log.warn('container state of no container: collected', { container: id });
      try {
        await this.deps.runtime('')?.delete(id);
        await unmount(this.paths(id).rootfs, `container ${id}: rootfs`);
        await rm(this.paths(id).state, { recursive: true, force: true });
        await rm(this.paths(id).exitFile, { force: true });
      } catch (err) {
        this.deps.log.error('collecting an orphan container failed', { container: id, error: messageOf(err) });
      }
    }
    for (const c of this.deps.store.all()) {
      try {
        if (c.state === 'CREATING') {
          this.deps.log.warn('container left half made by a previous daemon: removing', { container: c.id });
          await this.teardown(c);
        } else if (c.state === 'CREATED' && c.pid === undefined) {
          // A start the previous daemon did not finish may have left a runtime container
          // and its monitor: deleted, so that the next start makes them anew.
          await this.deps.runtime(c.runtimeHandler)?.delete(c.id);
          await rm(this.paths(c.id).exitFile, { force: true });
        } else await this.refresh(c);
      } catch (err) {
        this.deps.log.error('container reconciliation failed', { container: c.id, error: messageOf(err) });
      }
    }
  }
}
