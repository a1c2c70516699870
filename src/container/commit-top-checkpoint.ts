import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { CoracleError, failedPrecondition, invalidArgument } from '../errors.js';
import type { ImageRecord } from '../image/image-store.js';
import type { Logger } from '../log.js';
import { probeCriu } from '../oci/criu-probe.js';
import { upperDirOf, type ContainerContext } from './container-context.js';
import { refresh } from './container-exits.js';
import { isRunning } from './container-states.js';
import { containerProcesses, type TopEntry } from './container-top.js';
import { upperDirTar } from './layer-diff.js';

/* What docker's commit, top and CRI's CheckpointContainer do with a container. */

/**
 * docker commit: the container's read-write layer becomes a new layer on top of its
 * image. A running container is read as it is, without a pause.
 */
export async function commit(ctx: ContainerContext, id: string, o: { tag?: string; comment: string; author: string }, log: Logger): Promise<ImageRecord> {
  const c = await refresh(ctx, ctx.mustGet(id));
  const command = JSON.stringify((JSON.parse(await readFile(join(ctx.paths(c.id).bundle, 'config.json'), 'utf8').catch(() => '{}')) as { process?: { args?: unknown } }).process?.args ?? []);
  const upper = await upperDirOf(ctx.deps.snapshots, c.id);
  if (upper === undefined) throw failedPrecondition(`container ${c.id}: commit: it has no writable layer (being removed)`);
  const image = await ctx.deps.images.commitLayer(c.image.id, upperDirTar(upper), { ...o, createdBy: `coracle commit ${c.id.slice(0, 12)}: ${command}` }, log);
  log.info('container committed', { container: c.id, image: image.id, tag: o.tag });
  return image;
}

/** The processes of a running container (docker top). */
export async function top(ctx: ContainerContext, id: string): Promise<TopEntry[]> {
  const c = await refresh(ctx, ctx.mustGet(id));
  if (!isRunning(c) || c.pid === undefined) throw failedPrecondition(`container ${c.id}: top: not running`);
  return containerProcesses(c.pid, ctx.deps.cgroups);
}

/**
 * CheckpointContainer. A checkpoint is CRIU's dump of the running processes (through
 * `runc checkpoint`); where CRIU cannot run on the host's kernel the call is refused
 * with CRIU's own reason rather than attempted.
 */
export async function checkpoint(ctx: ContainerContext, id: string, location: string): Promise<never> {
  const c = await refresh(ctx, ctx.mustGet(id));
  if (!location || !isAbsolute(location)) throw invalidArgument(`container ${c.id}: checkpoint: location must be an absolute path, got ${JSON.stringify(location)}`);
  if (!isRunning(c)) throw failedPrecondition(`container ${c.id}: checkpoint: not running`);
  const criu = await probeCriu();
  if (!criu.usable) throw failedPrecondition(`container ${c.id}: checkpoint: CRIU cannot run on this host: ${criu.reason}`);
  throw new CoracleError('UNIMPLEMENTED', `container ${c.id}: checkpoint: writing checkpoint archives is not implemented yet`);
}

