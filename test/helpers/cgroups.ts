import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Removes a cgroup subtree (`rel`, e.g. "/coracle-test-1/kubepods") from every hierarchy
 * mounted under /sys/fs/cgroup: deepest first, as a cgroup dir can only go once empty.
 * A test that makes kubelet-style parents leaves them to runc, which removes only its
 * container's own cgroup, never the parents.
 */
export async function removeCgroupTree(rel: string): Promise<void> {
  for (const root of await hierarchies()) {
    const top = join(root, rel);
    await removeDeepestFirst([top, ...(await dirsBelow(top))]);
  }
}

/** Every cgroup dir of every hierarchy, as absolute paths. */
export async function cgroupDirs(): Promise<Set<string>> {
  const out = new Set<string>();
  for (const root of await hierarchies()) for (const dir of await dirsBelow(root)) out.add(dir);
  return out;
}

/**
 * Removes the cgroup dirs made since `before` (cgroupDirs()) that are empty, deepest first:
 * the parents that runc made for a pod's cgroup_parent, whatever a test passed as one (a fuzz
 * test's "a/b" made /a/b in every hierarchy).
 */
export async function removeCgroupsSince(before: Set<string>): Promise<void> {
  await removeDeepestFirst([...(await cgroupDirs())].filter((d) => !before.has(d)));
}

/** /sys/fs/cgroup and the hierarchies mounted under it (hybrid mode: one per controller). */
async function hierarchies(): Promise<string[]> {
  return ['/sys/fs/cgroup', ...(await readdir('/sys/fs/cgroup').catch(() => [] as string[])).map((d) => join('/sys/fs/cgroup', d))];
}

/** The dirs below `dir`, at any depth (none if it is absent). */
async function dirsBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    out.push(join(dir, e.name), ...(await dirsBelow(join(dir, e.name))));
  }
  return out;
}

/** rmdir each, children before their parents (a longer path first); one in use or not empty stays. */
async function removeDeepestFirst(dirs: string[]): Promise<void> {
  for (const dir of [...dirs].sort((a, b) => b.length - a.length)) await rmdir(dir).catch(() => undefined);
}
