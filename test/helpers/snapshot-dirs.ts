import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** The snapshotter's dir under a daemon's root. */
const snapshotsDir = (root: string): string => join(root, 'image', 'snapshots');

/** Committed layers in place: the 64-hex dirs (not staging, not trees being deleted, not active snapshots). */
export async function layerDirs(root: string): Promise<string[]> {
  return (await readdir(snapshotsDir(root)).catch(() => [] as string[])).filter((n) => /^[a-f0-9]{64}$/.test(n)).sort();
}

/**
 * Everything the snapshotter has on disk: layers, active snapshots and trees still being
 * deleted. Not counted: the `active` dir itself, and a removed layer's emptied top dir, which
 * stays a while for ext4's placement (src/image/remove-tree.ts KEEP_EMPTIED_TOPS_MS).
 */
export async function snapshotTrees(root: string): Promise<string[]> {
  const top: string[] = [];
  for (const name of await readdir(snapshotsDir(root)).catch(() => [] as string[])) {
    if (name === 'active') continue;
    // One gone meanwhile counts as emptied.
    if (name.startsWith('tmp-rm-') && (await readdir(join(snapshotsDir(root), name)).catch(() => [])).length === 0) continue;
    top.push(name);
  }
  const active = (await readdir(join(snapshotsDir(root), 'active')).catch(() => [] as string[])).map((n) => `active/${n}`);
  return [...top, ...active];
}
