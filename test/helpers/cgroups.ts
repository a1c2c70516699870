import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Removes a cgroup subtree (`rel`, e.g. "/coracle-test-1/kubepods") from every hierarchy
 * mounted under /sys/fs/cgroup: deepest first, as a cgroup dir can only go once empty.
 * A test that makes kubelet-style parents leaves them to runc, which removes only its
 * container's own cgroup, never the parents.
 */
export async function removeCgroupTree(rel: string): Promise<void> {
  for (const root of await hierarchies()) await removeDirs(join(root, rel));
}

/** /sys/fs/cgroup and the hierarchies mounted under it (hybrid mode: one per controller). */
async function hierarchies(): Promise<string[]> {
  return ['/sys/fs/cgroup', ...(await readdir('/sys/fs/cgroup').catch(() => [] as string[])).map((d) => join('/sys/fs/cgroup', d))];
}

/** Every cgroup dir of every hierarchy, as absolute paths. */
export async function cgroupDirs(): Promise<Set<string>> {
  const out = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
    for (const e of entries ?? []) {
      if (!e.isDirectory()) continue;
      out.add(join(dir, e.name));
      await walk(join(dir, e.name));
    }
  };
  for (const root of await hierarchies()) await walk(root);
  return out;
}

/**
 * Removes the cgroup dirs made since `before` (cgroupDirs()) that are empty, deepest first:
 * the parents that runc made for a pod's cgroup_parent, whatever a test passed as one (a fuzz
 * test's "a/b" made /a/b in every hierarchy).
 */
export async function removeCgroupsSince(before: Set<string>): Promise<void> {
  const made = [...(await cgroupDirs())].filter((d) => !before.has(d)).sort((a, b) => b.length - a.length);
  for (const dir of made) await rmdir(dir).catch(() => undefined);
}

async function removeDirs(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return;
  for (const e of entries) if (e.isDirectory()) await removeDirs(join(dir, e.name));
  await rmdir(dir).catch(() => undefined);
}
