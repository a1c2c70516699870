import { existsSync, watch } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno, messageOf } from '../errors.js';
import type { ContainerContext } from './container-context.js';
import { isListed, isRunning, mayHaveExited } from './container-states.js';
import type { ContainerRecord } from './container-store.js';
import { exitFileNames, needsExitRead } from './exit-files.js';
import { namespaceOf } from '../sandbox/object-namespace.js';

export interface ContainerFilter {
  /** Only the containers of this namespace (src/sandbox/object-namespace.ts). */
  namespace?: string;
  id?: string;
  sandboxId?: string;
  state?: ContainerRecord['state'];
  labels?: Record<string, string>;
}

/** A stop waits for the watcher's word of the exit, and looks itself at least this often. */
const EXIT_POLL_MS = 100;

/**
 * Notices exits as conmon writes them (an exit file per container), so that a STOPPED
 * event goes out when the container stops, not when someone next asks about it.
 */
export async function watchExits(ctx: ContainerContext): Promise<void> {
  const dir = join(ctx.deps.stateDir, 'exits');
  await mkdir(dir, { recursive: true });
  ctx.exitWatcher = watch(dir, (_event, name) => {
    const c = name ? ctx.deps.store.get(name.toString()) : undefined;
    if (c && mayHaveExited(c)) void refresh(ctx, c).catch((err: unknown) => ctx.deps.log.warn('exit not read', { container: c.id, error: messageOf(err) }));
  });
  ctx.exitWatcher.on('error', (err) => ctx.deps.log.warn('exit watch failed', { dir, error: err.message }));
}

/** Brings a record up to date with what conmon wrote: an exit, its code, its cause. */
export function refresh(ctx: ContainerContext, given: ContainerRecord): Promise<ContainerRecord> {
  // The store's copy, not the caller's: a caller holding an older one must not read an
  // exit that was recorded (and announced) since.
  const c = ctx.deps.store.get(given.id) ?? given;
  if (!mayHaveExited(c)) return Promise.resolve(c);
  // No exit file, no exit: the answer readExit's failed open would give, without a trip
  // to the thread pool and an ENOENT error object on every Status call. A stat of a name
  // in the daemon's own state dir (tmpfs under /run by default) does not wait on a disk.
  if (!existsSync(ctx.paths(c.id).exitFile)) return Promise.resolve(c);
  // The exit watcher and a caller may look at once: one read and one save per container.
  let pending = ctx.refreshing.get(c.id);
  if (!pending) {
    pending = readExit(ctx, c).finally(() => ctx.refreshing.delete(c.id));
    ctx.refreshing.set(c.id, pending);
  }
  return pending;
}

async function readExit(ctx: ContainerContext, c: ContainerRecord): Promise<ContainerRecord> {
  const p = ctx.paths(c.id);
  let text: string;
  let mtimeNs: bigint;
  try {
    text = await readFile(p.exitFile, 'utf8');
    mtimeNs = (await stat(p.exitFile, { bigint: true })).mtimeNs;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return c;
    throw err;
  }
  // Seen while conmon is still writing it: the next change event comes with the code.
  if (text.trim() === '') return c;
  const code = Number(text.trim());
  const oom = await stat(join(p.persist, 'oom')).then(() => true, () => false);
  // When conmon wrote the exit file: the kernel stamps it from its coarse clock, up to a tick
  // (1-4 ms) behind the clock startedAt was read from, so a process that ends within a tick
  // of its start would seem to end before it began. An exit is never before its start.
  const startedNs = BigInt(c.startedAt ?? '0');
  const finishedNs = mtimeNs > startedNs ? mtimeNs : startedNs;
  const updated: ContainerRecord = {
    ...c,
    state: 'EXITED',
    exitCode: Number.isFinite(code) ? code : 255,
    finishedAt: finishedNs.toString(),
    reason: oom ? 'OOMKilled' : code === 0 ? 'Completed' : 'Error',
  };
  await ctx.deps.store.save(updated);
  ctx.releases.begin(updated);
  ctx.exitWaiters.wake(c.id);
  ctx.deps.events.publish(c.id, c.sandboxId, 'STOPPED', namespaceOf(c), updated);
  if (oom) ctx.deps.onOomKill?.();
  return updated;
}

/** Until it has exited or `ms` have passed: woken by the exit watcher, or by its own look. */
export async function waitExit(ctx: ContainerContext, c: ContainerRecord, ms: number): Promise<ContainerRecord> {
  const deadline = Date.now() + ms;
  for (;;) {
    const woken = ctx.exitWaiters.wait(c.id, Math.min(EXIT_POLL_MS, Math.max(1, deadline - Date.now())));
    const now = await refresh(ctx, c);
    if (!isRunning(now) || Date.now() >= deadline) {
      woken.cancel();
      return now;
    }
    await woken.done;
  }
}

export async function list(ctx: ContainerContext, filter: ContainerFilter = {}): Promise<ContainerRecord[]> {
  // Id, pod and labels never change: filtered first, so that a pod's list (its stats)
  // reads nothing of other pods' containers. State is filtered once exits are read.
  const matching = ctx.deps.store.all().filter((c) => {
    if (!isListed(c)) return false;
    if (filter.namespace !== undefined && namespaceOf(c) !== filter.namespace) return false;
    if (filter.id && !c.id.startsWith(filter.id)) return false;
    if (filter.sandboxId && c.sandboxId !== filter.sandboxId) return false;
    for (const [k, v] of Object.entries(filter.labels ?? {})) if (c.labels[k] !== v) return false;
    return true;
  });
  // One readdir of the exit dir, and an exit file read only where there is one (see
  // needsExitRead for why that sees every exit that reading each file would).
  const names = matching.some((c) => mayHaveExited(c)) ? await exitFileNames(join(ctx.deps.stateDir, 'exits')) : undefined;
  const now = await Promise.all(matching.map((c) => (needsExitRead(c, names) ? refresh(ctx, c) : Promise.resolve(ctx.deps.store.get(c.id) ?? c))));
  return filter.state ? now.filter((c) => c.state === filter.state) : now;
}
