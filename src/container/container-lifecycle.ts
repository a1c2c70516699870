import { rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CoracleError, failedPrecondition, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { processStartTime } from '../util/process-start-time.js';
import { unmount } from '../util/mounts.js';
import { nowNanos, snapshotKey, type ContainerContext } from './container-context.js';
import { createsEnded, mountRoot } from './container-create.js';
import { refresh, waitExit } from './container-exits.js';
import { signalInit } from './container-signal.js';
import { canRestart, canStart, isListed, isRunning, needsStop } from './container-states.js';
import type { ContainerRecord, PolicyRestarts } from './container-store.js';
import { namespaceOf } from '../sandbox/object-namespace.js';

/*
 * A container's life after its create: start (and restart), stop, removal, and the same
 * for all of a pod's containers.
 */

/** Starts a CREATED container; a second call while the first runs gets the first's outcome. */
export async function start(ctx: ContainerContext, id: string, log: Logger): Promise<void> {
  const c = ctx.mustGet(id);
  return asStart(ctx, c.id, () => startChecked(ctx, c, log));
}

/**
 * `work`, a start or restart of `id`, as its start in flight, from this very call (before any
 * await): a second start or restart meanwhile gets its outcome, and a stop or removal waits
 * for it (startEnded). A restart registered only once it reached its start left a window in
 * which a removal ran beside it, and the restart then saved the removed record back.
 */
function asStart(ctx: ContainerContext, id: string, work: () => Promise<void>): Promise<void> {
  const pending = ctx.starting.get(id);
  if (pending) return pending;
  const started = work().finally(() => ctx.starting.delete(id));
  ctx.starting.set(id, started);
  return started;
}

/** A removal has begun: no start or restart may make the container run again. */
function refuseIfRemoving(ctx: ContainerContext, id: string): void {
  if (ctx.removing.has(id)) throw failedPrecondition(`container ${id}: start: it is being removed`);
}

async function startChecked(ctx: ContainerContext, c: ContainerRecord, log: Logger): Promise<void> {
  refuseIfRemoving(ctx, c.id);
  if (!canStart(c)) throw failedPrecondition(`container ${c.id}: is ${c.state.toLowerCase()}, not created`);
  if (ctx.deps.sandboxes.get(c.sandboxId)?.state !== 'READY') throw failedPrecondition(`container ${c.id}: start: its pod ${c.sandboxId} is not ready (stopped or stopping)`);
  return doStart(ctx, c, log);
}

/** Settles when a start of `id` in flight has, whatever its outcome. */
export async function startEnded(ctx: ContainerContext, id: string): Promise<void> {
  await ctx.starting.get(id)?.catch(() => undefined);
}

/**
 * The runtime's container under a new monitor (conmon runs the runtime's `create` and
 * reports the init's pid), then the runtime's `start`. A failure leaves the container
 * EXITED with reason StartError and the error as its message, its runtime container
 * deleted, as containerd does: kubelet makes a new one.
 */
async function doStart(ctx: ContainerContext, c: ContainerRecord, log: Logger): Promise<void> {
  const rt = ctx.runtimeFor(c.runtimeHandler, c.id);
  const p = ctx.paths(c.id);
  let made = c;
  try {
    if (c.pid === undefined) {
      const pid = await rt.create({
        id: c.id,
        bundle: p.bundle,
        logPath: c.logPath || join(p.state, 'unlogged.log'),
        exitDir: dirname(p.exitFile),
        persistDir: p.persist,
        attachDir: join(ctx.deps.stateDir, 'attach'),
        stdin: c.stdin,
        stdinOnce: c.stdinOnce ?? false,
        tty: c.tty,
      });
      const pidStartTime = await processStartTime(pid);
      made = { ...c, pid, ...(pidStartTime !== undefined ? { pidStartTime } : {}) };
    }
    // Taken before: a short process can end (and conmon stamp its exit) before start returns.
    const startedAt = nowNanos();
    await rt.start(c.id, made.pid, made.pidStartTime);
    const running: ContainerRecord = { ...made, state: 'RUNNING', startedAt };
    await ctx.deps.store.save(running);
    log.info('container started', { container: c.id });
    ctx.deps.events.publish(c.id, c.sandboxId, 'STARTED', namespaceOf(c));
    // An exit the watcher saw while the record still said CREATED was passed over: looked
    // for once now, so that a short process is noticed (and released) without a call.
    void refresh(ctx, running).catch((err: unknown) => log.warn('exit not read', { container: c.id, error: messageOf(err) }));
  } catch (err) {
    log.warn('container start failed', { container: c.id, error: messageOf(err) });
    await rt.delete(c.id).catch((e: unknown) => log.warn('runtime delete after a failed start failed', { container: c.id, error: messageOf(e) }));
    const failed: ContainerRecord = { ...made, state: 'EXITED', exitCode: 128, finishedAt: nowNanos(), reason: 'StartError', message: messageOf(err) };
    await ctx.deps.store.save(failed);
    ctx.releases.begin(failed);
    ctx.deps.events.publish(c.id, c.sandboxId, 'STOPPED', namespaceOf(c), failed);
    throw err;
  }
}

/**
 * Runs an exited container again with its root filesystem as it left it (docker start;
 * kubelet never asks: CRI makes a new container instead). The runtime's dead container
 * is deleted and created anew from the same bundle, under a new monitor; its log goes on.
 * `byPolicy`: the restart is its restart policy's, and these are its restarts counted with
 * it (ContainerRecord.restarts); without, the count is cleared.
 */
export async function restart(ctx: ContainerContext, id: string, log: Logger, byPolicy?: PolicyRestarts): Promise<void> {
  const found = ctx.mustGet(id);
  return asStart(ctx, found.id, async () => {
    const c = await refresh(ctx, ctx.mustGet(found.id));
    refuseIfRemoving(ctx, c.id);
    if (canStart(c)) return startChecked(ctx, c, log);
    if (!canRestart(c)) throw failedPrecondition(`container ${c.id}: start: is ${c.state.toLowerCase()}`);
    const pod = ctx.deps.sandboxes.get(c.sandboxId);
    if (!pod || pod.state !== 'READY') throw failedPrecondition(`container ${c.id}: start: its pod is not ready`);
    const p = ctx.paths(c.id);
    if (!(await stat(join(p.bundle, 'config.json')).then(() => true, () => false))) {
      throw failedPrecondition(`container ${c.id}: start: its runtime state is gone (the host restarted?)`);
    }
    ctx.runtimeFor(c.runtimeHandler, c.id);
    // Its exit released its root and the runtime's container: the start makes both again.
    await ctx.releases.now(c);
    await mountRoot(ctx, c.id);
    ctx.releases.forget(c.id);
    await rm(p.exitFile, { force: true });
    await rm(join(p.persist, 'oom'), { force: true });
    const { exitCode: _code, finishedAt: _finished, reason: _reason, message: _message, pid: _pid, pidStartTime: _started, restarts: _restarts, ...rest } = c;
    // A restart by its policy counts; one asked for by hand starts the count again, as docker's.
    const created: ContainerRecord = { ...rest, state: 'CREATED', ...(byPolicy ? { restarts: byPolicy } : {}) };
    await ctx.deps.store.save(created);
    await startChecked(ctx, created, log);
  });
}

/** The stop signal, then SIGKILL after `timeoutSeconds`; a stopped container is no error. */
export async function stop(ctx: ContainerContext, id: string, timeoutSeconds: number, log: Logger): Promise<void> {
  await startEnded(ctx, ctx.mustGet(id).id);
  let c = await refresh(ctx, ctx.mustGet(id));
  const rt = ctx.runtimeFor(c.runtimeHandler, c.id);
  if (canStart(c)) {
    // Never started: no process to signal; at most a runtime init (made by a restart).
    if (c.pid !== undefined) await rt.kill(c.id, 'SIGKILL', true).catch(() => undefined);
    await ctx.deps.store.save({ ...c, state: 'EXITED', exitCode: 0, finishedAt: nowNanos(), reason: 'Completed' });
    await ctx.releases.now(c);
    return;
  }
  const wasRunning = isRunning(c);
  if (isRunning(c) && timeoutSeconds > 0) {
    await signalInit(c, c.stopSignal, rt).catch((err: unknown) => log.debug('stop signal not sent', { container: c.id, error: messageOf(err) }));
    c = await waitExit(ctx, c, timeoutSeconds * 1000);
  }
  if (isRunning(c)) {
    // With a pid namespace of its own, SIGKILL to its init ends them all; `--all` (runc's
    // freezer walk of the cgroup) only where other processes could outlive it.
    await signalInit(c, 'SIGKILL', rt, c.sharedPid ?? true).catch((err: unknown) => log.debug('SIGKILL not sent', { container: c.id, error: messageOf(err) }));
    c = await waitExit(ctx, c, 10_000);
    if (isRunning(c)) throw new CoracleError('DEADLINE_EXCEEDED', `container ${c.id}: stop: still running 10 s after SIGKILL`);
  }
  if (wasRunning) log.info('container stopped', { container: c.id, exitCode: c.exitCode });
  // As containerd's StopContainer, done once the runtime's container is deleted: its root
  // is unmounted and its cgroups are gone by the time the call returns.
  await ctx.releases.now(c);
}

/** Kills it if it runs, deletes it from the runtime, unmounts its root; unknown is no error. */
export async function remove(ctx: ContainerContext, id: string, log: Logger): Promise<void> {
  const found = ctx.resolve(id);
  // Still being made: not there yet (containerd's answer); its create completes or undoes.
  if (!found || !isListed(found)) return;
  ctx.removing.add(found.id);
  try {
    await removeFound(ctx, found, log);
  } finally {
    ctx.removing.delete(found.id);
  }
}

async function removeFound(ctx: ContainerContext, found: ContainerRecord, log: Logger): Promise<void> {
  await startEnded(ctx, found.id);
  const c = ctx.deps.store.get(found.id) ?? found;
  if (needsStop(c)) await stop(ctx, c.id, 0, log);
  else await ctx.releases.now(c);
  const p = ctx.paths(c.id);
  // Its writable layer, once unmounted: renamed away by the snapshotter and deleted after
  // the answer. Before the record: a daemon killed between the two finds the record, whose
  // removal passes over the missing snapshot.
  await ctx.deps.snapshots.remove(snapshotKey(c.id));
  // The record's dir is renamed out of the store in one step, and removed after the answer
  // with the volatile state: a daemon killed before that finds no record, and collects both
  // at start (the trash, and state of no container).
  const trash = await ctx.deps.store.discard(c.id);
  ctx.releases.forget(c.id);
  ctx.usage.forget(c.id);
  log.info('container removed', { container: c.id });
  ctx.deps.events.publish(c.id, c.sandboxId, 'DELETED', namespaceOf(c));
  void ctx.background.run(`remove:${c.id}`, `container ${c.id}: removing its files`, async () => {
    await Promise.all([rm(p.state, { recursive: true, force: true }), rm(p.exitFile, { force: true }), rm(trash, { recursive: true, force: true })]);
  });
  // Its layers are held by its image while that exists: only an image removed under a
  // living container leaves layers to collect now.
  if (!ctx.deps.images.find(c.image.id)) {
    await ctx.deps.images.collect(log).catch((err: unknown) => log.warn('collecting the layers it let go failed', { error: messageOf(err) }));
  }
}

export async function teardown(ctx: ContainerContext, c: ContainerRecord): Promise<void> {
  const p = ctx.paths(c.id);
  const rt = ctx.deps.runtime(c.runtimeHandler);
  if (rt) await rt.delete(c.id);
  await unmount(p.rootfs, `container ${c.id}: rootfs`);
  await ctx.deps.snapshots.remove(snapshotKey(c.id));
  await rm(p.state, { recursive: true, force: true });
  await rm(p.exitFile, { force: true });
  await ctx.deps.store.remove(c.id);
  ctx.usage.forget(c.id);
}

export async function stopAll(ctx: ContainerContext, sandboxId: string, log: Logger): Promise<void> {
  await createsEnded(ctx, sandboxId, log);
  for (const c of ctx.deps.store.all().filter((x) => x.sandboxId === sandboxId && isListed(x))) await stop(ctx, c.id, 0, log);
}

export async function removeAll(ctx: ContainerContext, sandboxId: string, log: Logger): Promise<void> {
  await createsEnded(ctx, sandboxId, log);
  const ids = ctx.deps.store.all().filter((x) => x.sandboxId === sandboxId).map((c) => c.id);
  for (const id of ids) await remove(ctx, id, log);
  // A removed pod leaves none of its containers' files behind.
  await Promise.all(ids.map((id) => ctx.background.settled(`remove:${id}`)));
}

