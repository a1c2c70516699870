import { dirname, relative, sep } from 'node:path';
import { invalidArgument } from '../errors.js';
import { runNative } from './native.js';

/**
 * A mount as data, as containerd's mount.Mount: what a snapshotter returns and a caller
 * mounts, so that nothing but the snapshotter knows where its dirs are. `type` is 'overlay'
 * (options lowerdir=, upperdir=, workdir=, ro) or 'bind' (options rbind or bind, rw or ro).
 */
export interface Mount {
  type: string;
  source: string;
  options: string[];
}

/** The value of `name=` in `options`, if given. */
function optionValue(options: readonly string[], name: string): string | undefined {
  const found = options.find((o) => o.startsWith(`${name}=`));
  return found?.slice(name.length + 1);
}

/** The longest directory that holds every one of `paths` (absolute). */
export function commonParent(paths: readonly string[]): string {
  let common = dirname(paths[0] ?? '/');
  for (const p of paths) {
    while (common !== '/' && !p.startsWith(common + sep)) common = dirname(common);
  }
  return common;
}

/**
 * coracle-mount's arguments for one mount. Overlay lower dirs (nearest first) are passed
 * relative to their common parent, which the helper changes into: a deep image fits
 * overlayfs's one-page option limit (as containers/storage does with its short links). The
 * compaction is written here because no library does it for a helper of our own.
 */
export function mountArgs(target: string, m: Mount): string[] {
  const ro = m.options.includes('ro') ? ['-r'] : [];
  if (m.type === 'bind') return ['-t', target, '-b', m.source, ...ro];
  if (m.type !== 'overlay') throw invalidArgument(`mount on ${target}: type ${JSON.stringify(m.type)}: only overlay and bind are mounted`);
  const lowers = optionValue(m.options, 'lowerdir')?.split(':') ?? [];
  if (lowers.length === 0 || lowers.some((l) => !l.startsWith('/'))) throw invalidArgument(`mount on ${target}: overlay needs absolute lower dirs`);
  const upper = optionValue(m.options, 'upperdir');
  const work = optionValue(m.options, 'workdir');
  if ((upper === undefined) !== (work === undefined)) throw invalidArgument(`mount on ${target}: overlay needs upperdir and workdir both or neither`);
  const base = commonParent(lowers);
  return ['-t', target, ...(upper !== undefined && work !== undefined ? ['-u', upper, '-w', work] : []), ...ro, '-C', base, '-l', lowers.map((l) => relative(base, l)).join(':')];
}

/** The dir a writable mount writes into: an overlay's upper dir, or a read-write bind's source. */
export function writableDir(mounts: readonly Mount[], what: string): string {
  const m = mounts[0];
  const dir = m?.type === 'overlay' ? optionValue(m.options, 'upperdir') : m?.type === 'bind' && !m.options.includes('ro') ? m.source : undefined;
  if (mounts.length !== 1 || dir === undefined) throw invalidArgument(`${what}: not one writable mount`);
  return dir;
}

/**
 * Mounts `mounts` (as a snapshotter returned them) on `target`, through native/coracle-mount.
 * A container's root is one mount: an overlay of its image's layers under a read-write upper
 * dir of its own, or a bind of one dir.
 */
export async function mountRootfs(target: string, mounts: readonly Mount[], what: string): Promise<void> {
  if (mounts.length !== 1) throw invalidArgument(`${what}: ${mounts.length} mounts: one is mounted`);
  await runNative('coracle-mount', mountArgs(target, mounts[0]!), what);
}

/** Unmounts whatever `coracle-mount` mounted at `target`; nothing there is no error. */
export async function unmount(target: string, what: string): Promise<void> {
  await runNative('coracle-mount', ['-U', target], what);
}

/** A pod's /dev/shm: one tmpfs its containers share, as they share its ipc namespace. */
export async function mountShm(target: string, sizeBytes: number, what: string): Promise<void> {
  await runNative('coracle-mount', ['-T', target, '-s', String(sizeBytes)], what);
}
