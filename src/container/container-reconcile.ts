import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { messageOf } from '../errors.js';
import { unmount } from '../util/mounts.js';
import { containerOfKey, nowNanos, snapshotKey, type ContainerContext } from './container-context.js';
import { refresh } from './container-exits.js';
import { teardown } from './container-lifecycle.js';
import type { ContainerRecord } from './container-store.js';
import { inCreation, mayHaveExited, unstarted } from './container-states.js';
import { namespaceOf } from '../sandbox/object-namespace.js';

/**
 * At start (src/daemon/recover.ts): legacy containers' writable layers are adopted into
 * snapshots; containers a killed daemon left CREATING are undone; exits are read; and the
 * state dirs of containers with no record (a lost record) are collected with their root
 * mount and runtime container (their monitor ends with them), then their snapshots.
 * `rebooted`: the host restarted since the last daemon, and a container still RUNNING by its
 * record, with no exit file, ended unseen (endedUnseen).
 */
export async function reconcile(ctx: ContainerContext, o: { rebooted: boolean } = { rebooted: false }): Promise<{ failed: number }> {
  let failed = await adoptLegacy(ctx);
  const known = new Set(ctx.deps.store.all().map((c) => c.id));
  for (const id of await readdir(ctx.deps.stateDir).catch(() => [] as string[])) {
    if (!/^[a-f0-9]{64}$/.test(id) || known.has(id)) continue;
    if (ctx.deps.store.setAsideIds.has(id)) {
      // Its record was set aside (unreadable, or a newer Coracle's): not an orphan. What
      // runs is left running for whoever puts the record back.
      ctx.deps.log.warn('container state of a record set aside: left as it is', { container: id });
      continue;
    }
    ctx.deps.log.warn('container state of no container: collected', { container: id });
    try {
      await ctx.deps.runtime('')?.delete(id);
      await unmount(ctx.paths(id).rootfs, `container ${id}: rootfs`);
      await rm(ctx.paths(id).state, { recursive: true, force: true });
      await rm(ctx.paths(id).exitFile, { force: true });
    } catch (err) {
      ctx.deps.log.error('collecting an orphan container failed', { container: id, error: messageOf(err) });
    }
  }
  await collectOrphanSnapshots(ctx, known);
  for (const c of ctx.deps.store.all()) {
    try {
      if (inCreation(c)) {
        ctx.deps.log.warn('container left half made by a previous daemon: removing', { container: c.id });
        await teardown(ctx, c);
      } else if (unstarted(c)) {
        // A start the previous daemon did not finish may have left a runtime container
        // and its monitor: deleted, so that the next start makes them anew.
        await ctx.deps.runtime(c.runtimeHandler)?.delete(c.id);
        await rm(ctx.paths(c.id).exitFile, { force: true });
      } else if (o.rebooted && mayHaveExited(c)) await endedUnseen(ctx, c);
      else await refresh(ctx, c);
    } catch (err) {
      failed++;
      ctx.deps.log.error('container reconciliation failed', { container: c.id, error: messageOf(err) });
    }
  }
  return { failed };
}

/**
 * A container that ran when the host went down: an exit conmon wrote before is the real one;
 * with none, it is EXITED with code 255 and reason Unknown (containerd's words for an end it
 * did not see), and what the runtime and its root mount held is let go (on a host that
 * really restarted they are gone already; the runtime's delete and the unmount pass over it).
 */
async function endedUnseen(ctx: ContainerContext, c: ContainerRecord): Promise<void> {
  if ((await refresh(ctx, c)).state !== 'RUNNING') return;
  const ended: ContainerRecord = { ...c, state: 'EXITED', exitCode: 255, finishedAt: nowNanos(), reason: 'Unknown', message: 'the host restarted while the container ran' };
  await ctx.deps.store.save(ended);
  ctx.deps.log.warn('container of a boot before this one: exited', { container: c.id });
  await ctx.releases.now(ended);
  ctx.deps.events.publish(c.id, c.sandboxId, 'STOPPED', namespaceOf(c), ended);
}

/**
 * Containers whose record is older than schema version 2 kept their writable layer in the
 * record's dir (`upper`, `work`): each is adopted into the active snapshot `container/<id>`
 * over its top layer, by rename (the containers and the snapshots are both under the root
 * dir, on one filesystem), and its record saved in the new version. A running container goes
 * on: its overlay holds the dirs, not their paths. A rename that cannot be done (EXDEV: a
 * filesystem mounted over one of the two) leaves the container as it is, its files
 * untouched, and is counted as failed; the next start tries again.
 */
async function adoptLegacy(ctx: ContainerContext): Promise<number> {
  let failed = 0;
  const { store } = ctx.deps;
  for (const c of store.all()) {
    const version = store.olderVersion(c.id);
    if (version === undefined) continue;
    try {
      const dir = store.dir(c.id);
      await ctx.deps.snapshots.adopt(snapshotKey(c.id), c.chainIds.at(-1), { upper: join(dir, 'upper'), work: join(dir, 'work') });
      await store.save(c);
      ctx.deps.log.info('container of an earlier layout: its writable layer adopted as a snapshot', { container: c.id, schemaVersion: version });
    } catch (err) {
      failed++;
      ctx.deps.log.error('adopting the writable layer of an earlier layout failed: the container is left as it is', { container: c.id, error: messageOf(err) });
    }
  }
  return failed;
}

/**
 * Containers' snapshots of no record (a record lost: creates and removals order their steps
 * so that a killed daemon leaves the record, which recovery finishes): removed, as their
 * state dirs were just before. Never one of a record set aside.
 */
async function collectOrphanSnapshots(ctx: ContainerContext, known: ReadonlySet<string>): Promise<void> {
  for (const info of await ctx.deps.snapshots.list()) {
    if (info.kind === 'committed') continue;
    const id = containerOfKey(info.key);
    if (id === undefined || known.has(id)) continue;
    if (ctx.deps.store.setAsideIds.has(id)) {
      ctx.deps.log.warn('snapshot of a container whose record was set aside: left as it is', { container: id });
      continue;
    }
    ctx.deps.log.warn('snapshot of no container: collected', { container: id });
    await ctx.deps.snapshots.remove(info.key).catch((err: unknown) => ctx.deps.log.error('collecting an orphan snapshot failed', { container: id, error: messageOf(err) }));
  }
}
