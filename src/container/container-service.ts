import type { ImageRecord } from '../image/image-store.js';
import type { Logger } from '../log.js';
import type { Resources } from '../oci/spec.js';
import type { ExecOverrides } from '../oci/exec-overrides.js';
import type { ExecStreamOptions, StdioSession } from '../oci/stdio-session.js';
import * as extras from './commit-top-checkpoint.js';
import { ContainerContext, type ContainerDeps } from './container-context.js';
import * as creates from './container-create.js';
import * as exits from './container-exits.js';
import type { ContainerFilter } from './container-exits.js';
import * as io from './container-io.js';
import { copyFrom, copyTo, type CopyMode } from './container-copy.js';
import { containerLogs, type LogMessage, type LogsOptions } from './container-logs.js';
import { kill } from './container-kill.js';
import * as lifecycle from './container-lifecycle.js';
import { reconcile as reconcileContainers } from './container-reconcile.js';
import type { ContainerSpec } from './container-spec.js';
import type { ContainerRecord, PolicyRestarts } from './container-store.js';
import type { TopEntry } from './container-top.js';
import * as usage from './usage-and-limits.js';
import type { ContainerStatsRecord, PodUsage } from './usage-reader.js';

export type { ContainerDeps } from './container-context.js';
export type { ContainerFilter } from './container-exits.js';
export { containerName, type ContainerSpec } from './container-spec.js';

/** At shutdown, how long releases and removals in flight are waited for. */
const BACKGROUND_DRAIN_MS = 5_000;

/**
 * Containers: an overlay root over the image's layers, an OCI spec from the CRI config and
 * the image config, and the OCI runtime under conmon. Every CreateContainer completes or
 * leaves nothing; exits are read from what conmon wrote, so they are right even when they
 * happened while the daemon was down.
 *
 * The operations are in their own modules (container-create, container-lifecycle,
 * container-exits, container-io, commit-top-checkpoint, usage-and-limits,
 * container-reconcile), each a set of functions over the shared ContainerContext; this
 * class is their one entry point.
 */
export class ContainerService {
  private readonly ctx: ContainerContext;
  /** Containers a stop or removal was asked for (see stopAsked); in memory, as the watcher's counts. */
  private readonly stopsAsked = new Set<string>();
  /** Aborted once the daemon stops: the logs followed end. */
  private readonly followsEnd = new AbortController();

  constructor(deps: ContainerDeps) {
    this.ctx = new ContainerContext(deps);
  }

  /** Notices exits as conmon writes them, so that a STOPPED event goes out when the container stops. */
  watchExits(): Promise<void> {
    return exits.watchExits(this.ctx);
  }

  /** Stops watching; waits (a few seconds at most) for the work RPCs left running. */
  async close(): Promise<void> {
    this.ctx.exitWatcher?.close();
    await this.ctx.background.drain(BACKGROUND_DRAIN_MS);
  }

  /** CreateContainer: completes or leaves nothing; a retry of a create in flight gets its id. */
  create(spec: ContainerSpec, log: Logger): Promise<string> {
    return creates.create(this.ctx, spec, log);
  }

  /** The container `id` names: a full id or a unique prefix (within `namespace`, if given). */
  resolve(id: string, namespace?: string): ContainerRecord | undefined {
    return this.ctx.resolve(id, namespace);
  }

  /** A pod's usage: its containers', its network interfaces', its process count. */
  podStats(sandboxId: string): Promise<PodUsage> {
    return usage.podStats(this.ctx, sandboxId);
  }

  /** The usage of each pod of `sandboxIds` that still exists, their containers listed once. */
  podsStats(sandboxIds: string[]): Promise<Map<string, PodUsage>> {
    return usage.podsStats(this.ctx, sandboxIds);
  }

  /** New cgroup limits for a created or running container. */
  updateResources(id: string, r: Resources): Promise<void> {
    return usage.updateResources(this.ctx, id, r);
  }

  /** Usage of one container: cgroup counters while its processes live, its writable layer. */
  stats(id: string): Promise<ContainerStatsRecord> {
    return usage.stats(this.ctx, id);
  }

  /** Usage of the containers `filter` lists, their exits read once by the list. */
  listStats(filter: ContainerFilter = {}): Promise<ContainerStatsRecord[]> {
    return usage.listStats(this.ctx, filter);
  }

  /** Runs `cmd` in a running container as its main process runs (user, env, cwd). */
  execSync(id: string, cmd: string[], timeoutSeconds: number, overrides?: ExecOverrides): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
    return io.execSync(this.ctx, id, cmd, timeoutSeconds, overrides);
  }

  /** Runs `cmd` in a running container with its stdio live: the streaming server's exec. */
  execStream(id: string, cmd: string[], o: ExecStreamOptions): Promise<StdioSession> {
    return io.execStream(this.ctx, id, cmd, o);
  }

  /** Joins the container's own stdio through its monitor; detaching leaves it running. */
  attach(id: string): Promise<StdioSession> {
    return io.attach(this.ctx, id);
  }

  /** docker commit: the container's read-write layer becomes a new layer on its image. */
  commit(id: string, o: { tag?: string; comment: string; author: string }, log: Logger): Promise<ImageRecord> {
    return extras.commit(this.ctx, id, o, log);
  }

  /** The processes of a running container (docker top). */
  top(id: string): Promise<TopEntry[]> {
    return extras.top(this.ctx, id);
  }

  /** CheckpointContainer: refused with CRIU's reason where it cannot run, else not implemented yet. */
  checkpoint(id: string, location: string): Promise<never> {
    return extras.checkpoint(this.ctx, id, location);
  }

  /** Makes conmon open the log path again (kubelet renamed the file to rotate it). */
  reopenLog(id: string): Promise<void> {
    return io.reopenLog(this.ctx, id);
  }

  /** Runs an exited container again with its root filesystem as it left it (docker start); `byPolicy`: its restart policy's restart, counted (see container-lifecycle). */
  restart(id: string, log: Logger, byPolicy?: PolicyRestarts): Promise<void> {
    this.stopsAsked.delete(this.ctx.resolve(id)?.id ?? id);
    return lifecycle.restart(this.ctx, id, log, byPolicy);
  }

  /** Starts a CREATED container; a second call while the first runs gets the first's outcome. */
  start(id: string, log: Logger): Promise<void> {
    this.stopsAsked.delete(this.ctx.resolve(id)?.id ?? id);
    return lifecycle.start(this.ctx, id, log);
  }

  async status(id: string): Promise<ContainerRecord> {
    return exits.refresh(this.ctx, this.ctx.mustGet(id));
  }

  list(filter: ContainerFilter = {}): Promise<ContainerRecord[]> {
    return exits.list(this.ctx, filter);
  }

  /** The stop signal, then SIGKILL after `timeoutSeconds`; a stopped container is no error. */
  stop(id: string, timeoutSeconds: number, log: Logger): Promise<void> {
    this.stopsAsked.add(this.ctx.resolve(id)?.id ?? id);
    return lifecycle.stop(this.ctx, id, timeoutSeconds, log);
  }

  /** docker cp CONTAINER:SRC: `path` in its root as a tar (see container-copy). */
  copyFrom(id: string, path: string): AsyncIterable<Buffer> {
    return copyFrom(this.ctx, id, path);
  }

  /**
   * docker logs: its CRI log as batches of messages, followed until it stops, `signal` aborts
   * or endFollows is called (see container-logs).
   */
  async *logs(id: string, o: LogsOptions, signal: AbortSignal): AsyncGenerator<LogMessage[]> {
    const either = new AbortController();
    const abort = (): void => either.abort();
    const signals = [signal, this.followsEnd.signal];
    for (const s of signals) s.addEventListener('abort', abort, { once: true });
    if (signals.some((s) => s.aborted)) abort();
    try {
      yield* containerLogs(this.ctx, id, o, either.signal);
    } finally {
      for (const s of signals) s.removeEventListener('abort', abort);
    }
  }

  /** Ends the logs being followed (after their last read), so that a stopping daemon does not wait for them. */
  endFollows(): void {
    this.followsEnd.abort();
  }

  /** docker cp SRC CONTAINER:DEST: a tar unpacked at `path` in its root, as `mode` says (see container-copy). */
  copyTo(id: string, path: string, data: AsyncIterable<Buffer>, log: Logger, mode: CopyMode = 'docker'): Promise<void> {
    return copyTo(this.ctx, id, path, data, log, mode);
  }

  /** Kills it if it runs, deletes it from the runtime, unmounts its root; unknown is no error. */
  remove(id: string, log: Logger): Promise<void> {
    const full = this.ctx.resolve(id)?.id ?? id;
    this.stopsAsked.add(full);
    return lifecycle.remove(this.ctx, id, log).finally(() => this.stopsAsked.delete(full));
  }

  stopAll(sandboxId: string, log: Logger): Promise<void> {
    for (const c of this.ctx.deps.store.all()) if (c.sandboxId === sandboxId) this.stopsAsked.add(c.id);
    return lifecycle.stopAll(this.ctx, sandboxId, log);
  }

  removeAll(sandboxId: string, log: Logger): Promise<void> {
    const ids = this.ctx.deps.store.all().filter((c) => c.sandboxId === sandboxId).map((c) => c.id);
    for (const id of ids) this.stopsAsked.add(id);
    return lifecycle.removeAll(this.ctx, sandboxId, log).finally(() => ids.forEach((id) => this.stopsAsked.delete(id)));
  }

  /** Sends a signal to a running container's main process (docker kill, run's signal proxy). */
  signal(id: string, signal: string): Promise<void> {
    return kill(this.ctx, id, signal);
  }

  /**
   * Whether a stop or removal of the container was asked for since it last started: a
   * restart policy leaves such an exit alone, as docker's does after `docker stop`.
   */
  stopAsked(id: string): boolean {
    return this.stopsAsked.has(id);
  }

  /** At start: half-made containers undone, exits read, state of no container collected. */
  reconcile(o?: { rebooted: boolean }): Promise<{ failed: number }> {
    return reconcileContainers(this.ctx, o);
  }
}
