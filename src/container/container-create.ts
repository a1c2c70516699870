import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CoracleError, failedPrecondition, invalidArgument, messageOf, notFound, withContext } from '../errors.js';
import type { ImageRecord } from '../image/image-store.js';
import type { Logger } from '../log.js';
import { buildSpec, containerCapabilities, type NamespaceSource } from '../oci/spec.js';
import { containerArgs, mergeEnv } from '../oci/process-args.js';
import { seccompFor } from '../oci/seccomp.js';
import { resolveUser } from '../oci/user.js';
import { fitResourcesLogged } from '../oci/cgroup-resources.js';
import { infraAlive } from '../sandbox/pod-pid.js';
import type { SandboxRecord } from '../sandbox/sandbox-store.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { readFileInRoot } from '../util/in-root.js';
import { mountRootfs, unmount } from '../util/mounts.js';
import { UndoStack } from '../util/undo-stack.js';
import { nowNanos, snapshotKey, type ContainerContext } from './container-context.js';
import { containerName, type ContainerSpec } from './container-spec.js';
import { answersCreateRetry } from './container-states.js';
import type { ContainerRecord } from './container-store.js';
import { hostDevice, hostPath } from './host-sources.js';
import { consoleSizeOf } from './console-size.js';
import { vetContainerSpec } from './request-checks.js';
import { namespaceOf } from '../sandbox/object-namespace.js';

/*
 * CreateContainer: a root mounted from an active snapshot over the image's top layer (the
 * snapshotter's mounts, as data), and an OCI spec from the CRI config and the image config,
 * in a bundle. Every create completes or leaves nothing.
 */

export function create(ctx: ContainerContext, spec: ContainerSpec, log: Logger): Promise<string> {
  const pod = ctx.deps.sandboxes.get(spec.sandboxId);
  if (!pod) throw notFound(`sandbox ${spec.sandboxId}: not found`);
  if (pod.state !== 'READY') throw failedPrecondition(`sandbox ${pod.id}: not ready`);
  if (!spec.metadata.name) throw invalidArgument('container metadata needs a name');
  const name = containerName(spec.metadata, pod);
  // Names are unique within the pod's namespace (src/sandbox/object-namespace.ts).
  const ns = namespaceOf(pod);
  const key = `${ns}/${name}`;
  const pending = ctx.creating.get(key);
  if (pending) return pending.id;
  const existing = ctx.deps.store.all().find((c) => c.name === name && namespaceOf(c) === ns);
  if (existing) {
    if (answersCreateRetry(existing)) return Promise.resolve(existing.id);
    throw new CoracleError('ALREADY_EXISTS', `container name ${name} is reserved by ${existing.id} (${existing.state})`);
  }
  const image = ctx.deps.images.find(spec.image);
  if (!image) throw notFound(`image "${spec.image}": not found`);
  // A lease taken in the tick the image is found, before the first await: no RemoveImage or
  // collection can take a layer from under the root being built. It ends when the create
  // ends: by then the container's active snapshot holds the layers (as containerd's lease
  // hands over to the container's snapshot), or the create failed and nothing needs them.
  const lease = ctx.deps.snapshots.lease();
  for (const l of image.layers) lease.add(l.chainId);
  const id = doCreate(ctx, name, spec, pod, image, log).finally(() => {
    ctx.creating.delete(key);
    lease.release();
  });
  ctx.creating.set(key, { sandboxId: pod.id, id });
  return id;
}

/** Settles when the creates in flight in pod `sandboxId` have ended, whatever their outcome. */
export async function createsEnded(ctx: ContainerContext, sandboxId: string, log: Logger): Promise<void> {
  const pending = [...ctx.creating.values()].filter((c) => c.sandboxId === sandboxId).map((c) => c.id);
  if (pending.length > 0) log.info('waiting for container creates in flight', { sandbox: sandboxId, count: pending.length });
  await Promise.allSettled(pending);
}

async function doCreate(ctx: ContainerContext, name: string, spec: ContainerSpec, pod: SandboxRecord, image: ImageRecord, log: Logger): Promise<string> {
  const { store } = ctx.deps;
  const { privileged, capAdd, capDrop } = spec.security;
  const seccomp = await seccompFor(spec.security.seccomp, { privileged, capabilities: containerCapabilities({ privileged, capAdd, capDrop, allCapabilities: ctx.deps.allCapabilities }) });
  if (spec.security.pid === 'TARGET') throw new CoracleError('UNIMPLEMENTED', 'pid namespace TARGET: not supported yet');
  if (spec.security.pid === 'POD' && !pod.pins.pid) throw failedPrecondition(`sandbox ${pod.id}: has no pinned pod-wide pid namespace (its pid mode is ${pod.namespaces.pid})`);
  if (spec.security.pid === 'POD' && !(await infraAlive(pod))) throw failedPrecondition(`sandbox ${pod.id}: its pause process ${pod.infraPid} has ended`);
  if (spec.security.runAsGroup !== undefined && spec.security.runAsUser === undefined && !spec.security.runAsUsername) {
    throw invalidArgument('run_as_group needs run_as_user or run_as_username');
  }
  await vetContainerSpec(spec);
  const consoleSize = consoleSizeOf(spec.annotations);
  const id = randomBytes(32).toString('hex');
  const clog = log.child({ container: id, sandbox: pod.id });
  // Its handler is checked now, though the runtime is first called at start.
  ctx.runtimeFor(pod.runtimeHandler, id);
  const p = ctx.paths(id);
  const record: ContainerRecord = {
    id,
    name,
    sandboxId: pod.id,
    namespace: namespaceOf(pod),
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
    const attachDir = join(ctx.deps.stateDir, 'attach');
    await Promise.all([p.rootfs, p.bundle, p.persist, dirname(p.exitFile), attachDir].map((d) => mkdir(d, { recursive: true })));
    undo.push('remove state dir', () => rm(p.state, { recursive: true, force: true }));
    // Before the prepare: one cut short may have made it (removing none is no error).
    undo.push('remove snapshot', () => ctx.deps.snapshots.remove(snapshotKey(id)));
    const rootMounts = await ctx.deps.snapshots.prepare(snapshotKey(id), record.chainIds.at(-1));
    await mountRootfs(p.rootfs, rootMounts, `container ${id}: rootfs`);
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
    const podDir = ctx.deps.sandboxes.podDir(pod.id);
    const ns = (pin: string | undefined): NamespaceSource => (pin ? { path: pin } : 'host');
    const ociSpec = buildSpec({
      rootfs: p.rootfs,
      readonlyRootfs: spec.security.readonlyRootfs,
      args,
      env: mergeEnv(image.config.env, spec.env),
      cwd: spec.workingDir || image.config.workingDir || '/',
      terminal: spec.tty,
      ...(consoleSize ? { consoleSize } : {}),
      user,
      capAdd: spec.security.capAdd,
      capDrop: spec.security.capDrop,
      allCapabilities: ctx.deps.allCapabilities,
      privileged: spec.security.privileged,
      noNewPrivileges: spec.security.noNewPrivileges,
      ...(spec.resources.oomScoreAdj !== undefined ? { oomScoreAdj: Math.max(spec.resources.oomScoreAdj, ctx.deps.ownOomScoreAdj) } : {}),
      namespaces: { net: ns(pod.pins.net), ipc: ns(pod.pins.ipc), uts: ns(pod.pins.uts), pid: spec.security.pid === 'NODE' ? 'host' : spec.security.pid === 'POD' ? { path: pod.pins.pid! } : 'new', cgroup: ctx.deps.cgroups.layout === 'unified' ? 'new' : 'host' },
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
    ociSpec.linux.resources = fitResourcesLogged(ociSpec.linux.resources, ctx.deps.cgroups, clog, { name });
    await writeFileAtomic(join(p.bundle, 'config.json'), JSON.stringify(ociSpec));
    // After the bundle, not beside it: an undo runs once every step it has to undo is done.
    if (record.logPath) await makeLog(record.logPath, undo).catch((err: unknown) => Promise.reject(withContext(`log file ${record.logPath}`, err)));
    // The runtime's container is made by StartContainer, as containerd makes its task
    // there: CREATED is a root, a bundle and a record, with no process and no monitor.
    // A new object: a listed record is never changed in place (its answer is kept by object, cri/identity-memo).
    await store.save({ ...record, state: 'CREATED' });
    undo.clear();
    clog.info('container created', { name, image: image.id });
    ctx.deps.events.publish(id, spec.sandboxId, 'CREATED', namespaceOf(pod));
    return id;
  } catch (err) {
    clog.warn('container create failed: undoing', { error: messageOf(err) });
    await undo.unwind(clog);
    throw withContext(`container ${name}`, err);
  }
}

/** Its root mounted again from its active snapshot's mounts (a restart). */
export async function mountRoot(ctx: ContainerContext, id: string): Promise<void> {
  await mountRootfs(ctx.paths(id).rootfs, await ctx.deps.snapshots.mounts(snapshotKey(id)), `container ${id}: rootfs`);
}

/**
 * The container's log file, made empty (conmon appends to it at start): a follow opened
 * before the start (run, ContainerLogs wait_start) holds it from the first line. One that is
 * there already (a retried create) is left as it is; one made here goes with an undone create.
 */
async function makeLog(path: string, undo: UndoStack): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const made = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o640).then(
    async (fh) => {
      await fh.close();
      return true;
    },
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return false;
      throw err;
    },
  );
  if (made) undo.push('remove the log file', () => rm(path, { force: true }));
}
