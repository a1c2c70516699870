import type { Duplex } from 'node:stream';
import { forwardPort } from '../netns/port-dial.js';
import { randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CoracleError, invalidArgument, messageOf, notFound, withContext } from '../errors.js';
import type { Logger } from '../log.js';
import type { PodAddresses, PodAttachment, PodNetworkChoice } from '../netns/pod-network.js';
import { mountShm, unmount } from '../util/mounts.js';
import { UndoStack } from '../util/undo-stack.js';
import type { NamespacePins, PinRequest } from './namespace-pins.js';
import { writePodFiles } from './pod-files.js';
import type { SandboxRecord, SandboxStore } from './sandbox-store.js';
import type { SandboxSpec } from './sandbox-spec.js';
import { vetSysctls } from './sysctls.js';
import { vetCgroupParent } from './cgroup-parent.js';
import { vetPodSpec } from './pod-checks.js';
import type { InfraProcess } from './pod-infra.js';
import { infraAlive } from './pod-pid.js';
import { DEFAULT_NAMESPACE, namespaceOf } from './object-namespace.js';

export type { SandboxSpec } from './sandbox-spec.js';

export interface SandboxFilter {
  /** Only the pods of this namespace (src/sandbox/object-namespace.ts). */
  namespace?: string;
  id?: string;
  state?: 'READY' | 'NOTREADY';
  labels?: Record<string, string>;
}

/** What the sandbox service needs from the rest of the daemon. */
export interface SandboxDeps {
  store: SandboxStore;
  /** Volatile: namespace pins live here and are gone after a reboot, as the namespaces are. */
  stateDir: string;
  /** The network of a pod that asks for none: `[cni] pod_network`. */
  defaultNetwork: PodNetworkChoice;
  network: {
    setUp(p: PodAttachment): Promise<PodAddresses>;
    tearDown(p: PodAttachment, opts?: { onlyIfAttached?: boolean }): Promise<void>;
    attachedIds(): Promise<Set<string>>;
    tearDownOrphan(id: string, netns: string, log: Logger): Promise<void>;
  };
  pins: {
    pin(req: PinRequest, what: string): Promise<NamespacePins>;
    unpin(dir: string, what: string): Promise<void>;
  };
  handlers: { has(name: string): boolean };
  /** The pause process of pods with a pod-wide pid namespace. */
  infra: { start(pod: SandboxRecord, pinDir: string): Promise<InfraProcess>; stop(pod: SandboxRecord): Promise<void>; remove(pod: SandboxRecord): Promise<void>; readonly exitDir: string };
  /** Stops and removes a pod's containers (the container service, once it exists). */
  containers?: { stopAll(sandboxId: string, log: Logger): Promise<void>; removeAll(sandboxId: string, log: Logger): Promise<void> };
  /** Sandboxes are reported through the container events too, with their own id, as containerd does. */
  events: { publish(id: string, sandboxId: string, type: 'CREATED' | 'STARTED' | 'STOPPED' | 'DELETED', namespace: string): void };
  log: Logger;
}

/** A pod's /dev/shm, as containerd and docker size it. */
const POD_SHM_BYTES = 64 * 1024 * 1024;

const nowNanos = (): string => (BigInt(Date.now()) * 1_000_000n).toString();

/** kubelet's name for a pod's sandbox, unique per pod and attempt. */
export function sandboxName(m: SandboxSpec['metadata']): string {
  return `k8s_POD_${m.name}_${m.namespace}_${m.uid}_${m.attempt}`;
}

/**
 * Pod sandboxes: pinned net/ipc/uts namespaces, the pod's files and its CNI network. Every
 * RunPodSandbox either completes or leaves nothing; a retried one (kubelet timed out) gets
 * the same sandbox back. The record says CREATING until all is made, so a daemon killed
 * half-way tears it down at its next start.
 */
export class SandboxService {
  /** Names being created, and the promise of their id: a retry waits for the first call. */
  private readonly creating = new Map<string, Promise<string>>();
  private exitWatcher: FSWatcher | undefined;

  constructor(private readonly deps: SandboxDeps) {}

  private pinDir(id: string): string {
    return join(this.deps.stateDir, 'sandboxes', id, 'ns');
  }

  private attachment(r: SandboxRecord): PodAttachment {
    return {
      network: r.network ?? 'cluster',
      id: r.id,
      name: r.metadata.name,
      namespace: r.metadata.namespace,
      uid: r.metadata.uid,
      netns: r.pins.net ?? join(this.pinDir(r.id), 'net'),
      portMappings: r.portMappings,
    };
  }

  run(spec: SandboxSpec, log: Logger): Promise<string> {
    const m = spec.metadata;
    if (!m.name || !m.namespace || !m.uid) throw invalidArgument('sandbox metadata needs name, namespace and uid');
    // A NUL cannot pass to CNI, a sysctl or a file name, nor `;` to CNI_ARGS: refused up front.
    vetPodSpec(spec);
    const name = sandboxName(m);
    // Names are unique within a namespace: the CLI's pods never collide with kubelet's.
    const ns = spec.namespace ?? DEFAULT_NAMESPACE;
    const key = `${ns}/${name}`;
    const pending = this.creating.get(key);
    if (pending) return pending;
    const existing = this.deps.store.all().find((r) => r.name === name && namespaceOf(r) === ns);
    if (existing) {
      if (existing.state === 'READY') return Promise.resolve(existing.id);
      throw new CoracleError('ALREADY_EXISTS', `sandbox name ${name} is reserved by ${existing.id} (${existing.state})`);
    }
    const p = this.create(name, spec, log).finally(() => this.creating.delete(key));
    this.creating.set(key, p);
    return p;
  }

  private async create(name: string, spec: SandboxSpec, log: Logger): Promise<string> {
    const { store, pins, network } = this.deps;
    if (spec.runtimeHandler && !this.deps.handlers.has(spec.runtimeHandler)) {
      throw new CoracleError('NOT_FOUND', `runtime handler "${spec.runtimeHandler}" is not configured`);
    }
    const own = { net: spec.namespaces.network !== 'NODE', ipc: spec.namespaces.ipc !== 'NODE', uts: spec.namespaces.network !== 'NODE' };
    if (spec.logDirectory && (!spec.logDirectory.startsWith('/') || spec.logDirectory.includes('\0'))) throw invalidArgument(`sandbox ${name}: log directory ${JSON.stringify(spec.logDirectory.slice(0, 200))}: must be an absolute path`);
    // sethostname takes at most 64 bytes (HOST_NAME_MAX) and no NUL: refused here, not as pinns' EINVAL.
    if (own.uts && (Buffer.byteLength(spec.hostname) > 64 || spec.hostname.includes('\0'))) throw invalidArgument(`sandbox ${name}: hostname ${JSON.stringify(spec.hostname.slice(0, 80))}: not a hostname (at most 64 bytes, no NUL)`);
    const sysctls = vetSysctls(spec.sysctls, own);
    const cgroupParent = vetCgroupParent(`${spec.metadata.namespace}/${spec.metadata.name}`, spec.cgroupParent);
    const id = randomBytes(32).toString('hex');
    const plog = log.child({ sandbox: id, pod: `${spec.metadata.namespace}/${spec.metadata.name}` });
    const record: SandboxRecord = {
      id,
      name,
      namespace: spec.namespace ?? DEFAULT_NAMESPACE,
      state: 'CREATING',
      createdAt: nowNanos(),
      metadata: spec.metadata,
      labels: spec.labels,
      annotations: spec.annotations,
      hostname: spec.hostname,
      logDirectory: spec.logDirectory,
      runtimeHandler: spec.runtimeHandler,
      namespaces: spec.namespaces,
      sysctls,
      dns: spec.dns,
      portMappings: spec.portMappings,
      cgroupParent,
      ...(own.net ? { network: spec.network ?? this.deps.defaultNetwork } : {}),
      pins: {},
      additionalIps: [],
    };
    const undo = new UndoStack();
    try {
      // Before the save: one that fails half-way (ENOSPC) may have made the record's dir.
      undo.push('remove sandbox record', () => store.remove(id));
      await store.save(record);
      const pinDir = this.pinDir(id);
      await mkdir(pinDir, { recursive: true });
      undo.push('remove pin dir', () => rm(join(this.deps.stateDir, 'sandboxes', id), { recursive: true, force: true }));
      // The pins and /dev/shm are two execs that need nothing of each other: at once.
      const shm = join(this.deps.stateDir, 'sandboxes', id, 'shm');
      const [pinned, shmMounted] = await Promise.allSettled([
        own.net || own.ipc
          ? pins.pin({ dir: pinDir, net: own.net, ipc: own.ipc, uts: own.uts, ...(own.uts ? { hostname: spec.hostname } : {}), sysctls }, `sandbox ${id}: namespaces`)
          : Promise.resolve(undefined),
        own.ipc ? mkdir(shm, { recursive: true }).then(() => mountShm(shm, POD_SHM_BYTES, `sandbox ${id}: /dev/shm`)).then(() => true) : Promise.resolve(false),
      ]);
      if (pinned.status === 'fulfilled' && pinned.value) {
        record.pins = pinned.value;
        undo.push('unpin namespaces', () => pins.unpin(pinDir, `sandbox ${id}: namespaces`));
      }
      if (shmMounted.status === 'fulfilled' && shmMounted.value) {
        undo.push('unmount shm', () => unmount(shm, `sandbox ${id}: /dev/shm`));
        record.shmPath = shm;
      }
      if (pinned.status === 'rejected') throw pinned.reason;
      if (shmMounted.status === 'rejected') throw shmMounted.reason;
      if (own.net) {
        // Before ADD: a plugin that fails half-way may already hold an address.
        undo.push('CNI DEL', () => network.tearDown(this.attachment(record)));
        const addresses = await network.setUp(this.attachment(record));
        if (addresses.ip) record.ip = addresses.ip;
        record.additionalIps = addresses.additionalIps;
      }
      if (spec.namespaces.pid === 'POD') {
        undo.push('remove infra', () => this.deps.infra.remove(record));
        const infra = await this.deps.infra.start(record, pinDir);
        // Only this pin: the others stay until CNI DEL has run in the pod's netns.
        undo.push('unpin pid namespace', () => unmount(infra.pin, `sandbox ${id}: pid namespace`).then(() => rm(infra.pin, { force: true })));
        record.infraPid = infra.pid;
        record.infraStartTime = infra.startTime;
        record.pins = { ...record.pins, pid: infra.pin };
      }
      await writePodFiles(store.dir(id), {
        dns: spec.dns,
        hostname: spec.hostname,
        hostNetwork: !own.net,
        ...(record.ip ? { ip: record.ip } : {}),
      });
      // A new object: a listed record is never changed in place (its answer is kept by object, cri/identity-memo).
      await store.save({ ...record, state: 'READY' });
      undo.clear();
      plog.info('sandbox ready', { ip: record.ip, name });
      this.deps.events.publish(id, id, 'CREATED', namespaceOf(record));
      this.deps.events.publish(id, id, 'STARTED', namespaceOf(record));
      return id;
    } catch (err) {
      plog.warn('sandbox failed: undoing', { error: messageOf(err) });
      await undo.unwind(plog);
      throw withContext(`sandbox ${name}`, err);
    }
  }

  /** The sandbox `id` names: a full id or a unique prefix (within `namespace`, if given). */
  resolve(id: string, namespace?: string): SandboxRecord | undefined {
    return this.deps.store.resolve(id, namespace === undefined ? undefined : (r) => namespaceOf(r) === namespace);
  }

  status(id: string): SandboxRecord {
    const r = this.resolve(id);
    if (!r || r.state === 'CREATING') throw notFound(`sandbox ${id}: not found`);
    return r;
  }

  list(filter: SandboxFilter = {}): SandboxRecord[] {
    return this.deps.store.all().filter((r) => {
      if (r.state === 'CREATING') return false;
      if (filter.namespace !== undefined && namespaceOf(r) !== filter.namespace) return false;
      if (filter.id && !r.id.startsWith(filter.id)) return false;
      if (filter.state && r.state !== filter.state) return false;
      for (const [k, v] of Object.entries(filter.labels ?? {})) if (r.labels[k] !== v) return false;
      return true;
    });
  }

  /** Connects `stream` to `port` on the pod's loopback, for the streaming server. */
  async portForward(id: string, port: number, stream: Duplex): Promise<void> {
    const r = this.status(id);
    const netns = r.namespaces.network === 'NODE' ? undefined : this.attachment(r).netns;
    await forwardPort(netns, port, stream, `sandbox ${r.id}: port-forward`);
  }

  /** Stops the pod's containers and releases its network; the pins stay until removal. */
  async stop(id: string, log: Logger): Promise<void> {
    const r = this.resolve(id);
    // Still being made: not there yet for its callers (containerd's answer too).
    if (!r || r.state === 'CREATING') throw notFound(`sandbox ${id}: not found`);
    const plog = log.child({ sandbox: r.id });
    // NOTREADY first: no container is created or started in a pod that is stopping.
    const wasReady = await this.markNotReady(r);
    await this.deps.containers?.stopAll(r.id, plog);
    if (r.infraPid !== undefined) await this.deps.infra.stop(r);
    if (r.namespaces.network !== 'NODE') await this.deps.network.tearDown(this.attachment(r), { onlyIfAttached: true });
    if (wasReady) {
      plog.info('sandbox stopped');
      this.deps.events.publish(r.id, r.id, 'STOPPED', namespaceOf(r));
    }
  }

  /** Saves the pod NOTREADY; true if it was READY (the caller announces the stop). */
  private async markNotReady(r: SandboxRecord): Promise<boolean> {
    const now = this.deps.store.get(r.id);
    if (now?.state !== 'READY') return false;
    await this.deps.store.save({ ...now, state: 'NOTREADY' });
    return true;
  }

  /**
   * A pod whose pause process ended (killed, OOM) has lost its pid namespace: it is
   * NOTREADY, as containerd makes a sandbox whose task exited, and kubelet makes it anew.
   */
  private async infraExited(podId: string): Promise<void> {
    const r = this.deps.store.get(podId);
    if (!r || r.state !== 'READY' || (await infraAlive(r))) return;
    if (await this.markNotReady(r)) {
      this.deps.log.warn('sandbox pause process ended: not ready', { sandbox: r.id, pid: r.infraPid });
      this.deps.events.publish(r.id, r.id, 'STOPPED', namespaceOf(r));
    }
  }

  /** Notices pause processes ending, as conmon records their exits. */
  private async watchInfraExits(): Promise<void> {
    const dir = this.deps.infra.exitDir;
    await mkdir(dir, { recursive: true });
    this.exitWatcher = watch(dir, (_event, name) => {
      if (name) void this.infraExited(name.toString()).catch((err: unknown) => this.deps.log.warn('pause exit not handled', { sandbox: name.toString(), error: messageOf(err) }));
    });
    this.exitWatcher.on('error', (err) => this.deps.log.warn('pause exit watch failed', { dir, error: err.message }));
    this.exitWatcher.unref();
  }

  close(): void {
    this.exitWatcher?.close();
  }

  /** Removes everything of the pod; an unknown id is no error (kubelet retries removals). */
  async remove(id: string, log: Logger): Promise<void> {
    const r = this.resolve(id);
    // A pod still being made is not there yet for RemovePodSandbox (as in containerd): its
    // RunPodSandbox completes or undoes itself; removing it under its feet would leak.
    if (!r || r.state === 'CREATING') return;
    const plog = log.child({ sandbox: r.id });
    await this.deps.containers?.removeAll(r.id, plog);
    await this.teardown(r, plog);
    plog.info('sandbox removed');
    this.deps.events.publish(r.id, r.id, 'DELETED', namespaceOf(r));
  }

  private async teardown(r: SandboxRecord, log: Logger): Promise<void> {
    if (r.namespaces.pid === 'POD') await this.deps.infra.remove(r);
    // A CREATING pod may have a half-made attachment with no cache yet: DEL it all the same.
    if (r.namespaces.network !== 'NODE') await this.deps.network.tearDown(this.attachment(r), { onlyIfAttached: r.state !== 'CREATING' });
    await Promise.all([
      this.deps.pins.unpin(this.pinDir(r.id), `sandbox ${r.id}: namespaces`),
      unmount(join(this.deps.stateDir, 'sandboxes', r.id, 'shm'), `sandbox ${r.id}: /dev/shm`),
    ]);
    await rm(join(this.deps.stateDir, 'sandboxes', r.id), { recursive: true, force: true });
    await this.deps.store.remove(r.id);
    log.debug('sandbox torn down');
  }

  /**
   * At start (src/daemon/recover.ts, after the containers): sandboxes a killed daemon left
   * CREATING are torn down; READY ones whose net pin is gone are NOTREADY and their IPs
   * released, as are those whose pause process ended; pins and CNI attachments that belong
   * to no sandbox are collected. `rebooted`: the host restarted since the last daemon, and every READY pod is
   * stopped as StopPodSandbox stops it (what of it is gone already is passed over).
   */
  async reconcile(o: { rebooted: boolean } = { rebooted: false }): Promise<{ failed: number }> {
    const { store, log, network, pins } = this.deps;
    let failed = 0;
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    for (const r of store.all()) {
      const rlog = log.child({ sandbox: r.id });
      try {
        if (r.state === 'CREATING') {
          rlog.warn('sandbox left half made by a previous daemon: tearing down');
          await this.teardown(r, rlog);
        } else if (o.rebooted && r.state === 'READY') {
          rlog.warn('sandbox of a boot before this one: stopped');
          await this.stop(r.id, rlog);
        } else if (r.state === 'READY' && r.pins.net && !mounts.includes(` ${r.pins.net} `)) {
          rlog.warn('sandbox lost its network namespace (reboot?): not ready');
          await network.tearDown(this.attachment(r));
          await pins.unpin(this.pinDir(r.id), `sandbox ${r.id}: namespaces`);
          await store.save({ ...r, state: 'NOTREADY' });
        } else if (r.state === 'READY' && !(await infraAlive(r))) {
          rlog.warn('sandbox pause process ended while the daemon was down: not ready');
          await store.save({ ...r, state: 'NOTREADY' });
        }
      } catch (err) {
        failed++;
        rlog.error('sandbox reconciliation failed', { error: messageOf(err) });
      }
    }
    const known = new Set(store.all().map((r) => r.id));
    const pinRoot = join(this.deps.stateDir, 'sandboxes');
    // Network first, while an orphan's netns is still pinned: without it (and without a
    // cached result) the bridge plugin cannot find the address to undo its masquerade for.
    for (const id of await network.attachedIds()) {
      if (known.has(id)) continue;
      log.warn('CNI attachment of no sandbox: released', { sandbox: id });
      await network.tearDownOrphan(id, join(pinRoot, id, 'ns', 'net'), log);
    }
    for (const id of await readdir(pinRoot).catch(() => [] as string[])) {
      if (known.has(id)) continue;
      log.warn('pins of no sandbox: removed', { sandbox: id });
      await pins.unpin(join(pinRoot, id, 'ns'), `orphan ${id}`).catch((err: unknown) => log.error('unpin failed', { sandbox: id, error: messageOf(err) }));
      await unmount(join(pinRoot, id, 'shm'), `orphan ${id}`).catch((err: unknown) => log.error('unmount failed', { sandbox: id, error: messageOf(err) }));
      await rm(join(pinRoot, id), { recursive: true, force: true });
    }
    await this.watchInfraExits();
    return { failed };
  }
}
