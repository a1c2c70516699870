import { readdir, rm } from 'node:fs/promises';
import { messageOf } from '../errors.js';
import { unmount } from '../util/mounts.js';
import type { ContainerContext } from './container-context.js';
import { refresh } from './container-exits.js';
import { teardown } from './container-lifecycle.js';
import { inCreation, unstarted } from './container-states.js';

/**
 * At start: containers a killed daemon left CREATING are undone; exits are read; and the
 * state dirs of containers with no record (a lost record) are collected with their root
 * mount and runtime container (their monitor ends with them).
 */
export async function reconcile(ctx: ContainerContext): Promise<void> {
  const known = new Set(ctx.deps.store.all().map((c) => c.id));
  for (const id of await readdir(ctx.deps.stateDir).catch(() => [] as string[])) {
    if (!/^[a-f0-9]{64}$/.test(id) || known.has(id)) continue;
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
      } else await refresh(ctx, c);
    } catch (err) {
      ctx.deps.log.error('container reconciliation failed', { container: c.id, error: messageOf(err) });
    }
  }
}

