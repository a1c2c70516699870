import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition, notFound } from '../errors.js';
import { resources, type Resources } from '../oci/spec.js';
import { fitResourcesLogged } from '../oci/cgroup-resources.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { ContainerContext } from './container-context.js';
import { list as listContainers, refresh, type ContainerFilter } from './container-exits.js';
import { startEnded } from './container-lifecycle.js';
import { canUpdateResources } from './container-states.js';
import type { ContainerRecord } from './container-store.js';
import type { ContainerStatsRecord, PodUsage } from './usage-reader.js';

/* Containers' and pods' resource usage, and a container's cgroup limits changed. */

/**
 * A pod's usage: the sum of its containers', the interfaces of its network namespace (read
 * through any process in it), and how many processes its containers run.
 */
export async function podStats(ctx: ContainerContext, sandboxId: string): Promise<PodUsage> {
  const pod = ctx.deps.sandboxes.get(sandboxId);
  if (!pod) throw notFound(`sandbox ${sandboxId}: not found`);
  return ctx.usage.pod(pod, await listContainers(ctx, { sandboxId: pod.id }));
}

/**
 * The usage of each pod of `sandboxIds` that still exists (one removed meanwhile is left
 * out), their containers listed once for all: one read of the exit dir, not one per pod.
 */
export async function podsStats(ctx: ContainerContext, sandboxIds: string[]): Promise<Map<string, PodUsage>> {
  const bySandbox = new Map<string, ContainerRecord[]>();
  for (const c of await listContainers(ctx)) {
    const list = bySandbox.get(c.sandboxId);
    if (list) list.push(c);
    else bySandbox.set(c.sandboxId, [c]);
  }
  const out = new Map<string, PodUsage>();
  await Promise.all(
    sandboxIds.map(async (id) => {
      const pod = ctx.deps.sandboxes.get(id);
      if (pod) out.set(id, await ctx.usage.pod(pod, bySandbox.get(id) ?? []));
    }),
  );
  return out;
}

/** Usage of one container: cgroup counters while its processes live, its writable layer. */
export async function stats(ctx: ContainerContext, id: string): Promise<ContainerStatsRecord> {
  return ctx.usage.container(await refresh(ctx, ctx.mustGet(id)));
}

/** Usage of the containers `filter` lists, their exits read once by the list. */
export async function listStats(ctx: ContainerContext, filter: ContainerFilter = {}): Promise<ContainerStatsRecord[]> {
  return Promise.all((await listContainers(ctx, filter)).map((c) => ctx.usage.container(c)));
}

/** New cgroup limits for a created or running container. */
export async function updateResources(ctx: ContainerContext, id: string, r: Resources): Promise<void> {
  await startEnded(ctx, ctx.mustGet(id).id);
  const c = await refresh(ctx, ctx.mustGet(id));
  if (!canUpdateResources(c)) throw failedPrecondition(`container ${c.id}: update resources: it is ${c.state.toLowerCase()}`);
  const p = ctx.paths(c.id);
  const limits = fitResourcesLogged(resources(r, undefined, false), ctx.deps.cgroups, ctx.deps.log, { container: c.id });
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
    await ctx.runtimeFor(c.runtimeHandler, c.id).update(c.id, file);
  } finally {
    await rm(file, { force: true });
  }
}

