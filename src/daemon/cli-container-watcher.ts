import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ContainerEvent, ContainerEvents } from '../container/container-events.js';
import type { ContainerService } from '../container/container-service.js';
import { AUTO_REMOVE_ANNOTATION, parseRestartPolicy, RESTART_POLICY_ANNOTATION, restartDue, nextDelay, type RestartPolicy } from '../container/restart-policy.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';

/** The label `coracle run` puts on what it makes (cli/cli-client.ts): only those are watched. */
const CLI_LABEL = 'io.coracle.cli';

export interface CliWatcherDeps {
  events: ContainerEvents;
  containers: Pick<ContainerService, 'resolve' | 'restart' | 'stopAsked'>;
  sandboxes: Pick<SandboxService, 'resolve' | 'stop' | 'remove'>;
  /** The daemon's root: the CLI's log dirs are under its cli-logs. */
  root: string;
  log: Logger;
}

const ms = (nanos: string | undefined): number => Number(BigInt(nanos ?? '0') / 1_000_000n);

/**
 * What docker's daemon does for its containers when they exit, for the containers
 * `coracle run` made (kubelet restarts its own): their restart policy (--restart, with
 * docker's backoff) and their removal (run -d --rm). It reads exits from the container
 * events. Exits read while the daemon recovers (containers that were running when the last
 * daemon stopped and ended while it was down) are held until `resume`, after recovery, so
 * that an `always` container that was running runs again. A stop or removal someone asked
 * for is no exit to restart after (ContainerService.stopAsked). Restart counts and the
 * backoff are the container record's (ContainerRecord.restarts), written with each restart:
 * a daemon restart goes on from them.
 */
export class CliContainerWatcher {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private held: string[] | undefined = [];
  private readonly unsubscribe: () => void;

  constructor(private readonly deps: CliWatcherDeps) {
    this.unsubscribe = deps.events.subscribe(
      (e) => this.onEvent(e),
      () => undefined,
    );
  }

  /** After recovery: the exits read during it are acted on, and every exit from now on. */
  resume(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const id of held) this.onExit(id);
  }

  close(): void {
    this.unsubscribe();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private onEvent(e: ContainerEvent): void {
    if (e.id === e.sandboxId) return;
    if (e.type !== 'STOPPED') return;
    if (this.held) this.held.push(e.id);
    else this.onExit(e.id);
  }

  private onExit(id: string): void {
    const c = this.deps.containers.resolve(id);
    if (!c || c.labels[CLI_LABEL] !== 'true' || c.state !== 'EXITED') return;
    const log = this.deps.log.child({ container: c.id });
    let policy: RestartPolicy = { kind: 'no' };
    try {
      policy = parseRestartPolicy(c.annotations[RESTART_POLICY_ANNOTATION] ?? 'no');
    } catch (err) {
      log.warn('restart policy not read: none applies', { error: messageOf(err) });
    }
    const done = c.restarts ?? { count: 0, delayMs: 0 };
    const asked = this.deps.containers.stopAsked(c.id);
    if (!asked && restartDue(policy, c.exitCode ?? 0, done.count)) {
      const delayMs = nextDelay(done.delayMs, ms(c.finishedAt) - ms(c.startedAt));
      const next = { count: done.count + 1, delayMs };
      log.info('restart scheduled by its restart policy', { policy: c.annotations[RESTART_POLICY_ANNOTATION], exitCode: c.exitCode, restarts: next.count, delayMs });
      clearTimeout(this.timers.get(c.id));
      this.timers.set(
        c.id,
        setTimeout(() => {
          this.timers.delete(c.id);
          // Stopped or removed meanwhile: nothing to do.
          if (this.deps.containers.stopAsked(c.id) || !this.deps.containers.resolve(c.id)) return;
          log.info('restarting by its restart policy', { restarts: next.count });
          this.deps.containers.restart(c.id, log, next).catch((err: unknown) => log.warn('restart by its restart policy failed', { error: messageOf(err) }));
        }, delayMs),
      );
      return;
    }
    if (policy.kind === 'on-failure' && (c.exitCode ?? 0) !== 0 && !asked) {
      log.info('not restarted: its restart policy has made all its restarts', { policy: c.annotations[RESTART_POLICY_ANNOTATION], exitCode: c.exitCode, restarts: done.count });
    }
    if (c.annotations[AUTO_REMOVE_ANNOTATION] === 'true') void this.removeWithPod(c.sandboxId, log);
  }

  /** run --rm: the container goes with its pod and the pod's log dir (only one under <root>/cli-logs). */
  private async removeWithPod(podId: string, log: Logger): Promise<void> {
    try {
      const pod = this.deps.sandboxes.resolve(podId);
      if (!pod) return;
      await this.deps.sandboxes.stop(pod.id, log);
      await this.deps.sandboxes.remove(pod.id, log);
      const logs = resolve(this.deps.root, 'cli-logs');
      const dir = pod.logDirectory ? resolve(pod.logDirectory) : '';
      if (dir.startsWith(`${logs}/`) && !dir.slice(logs.length + 1).includes('/')) await rm(dir, { recursive: true, force: true });
      log.info('removed as it exited (run --rm)');
    } catch (err) {
      log.warn('removal as it exited (run --rm) failed', { error: messageOf(err) });
    }
  }
}
