import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Removes a cgroup subtree (`rel`, e.g. "/coracle-test-1/kubepods") from every hierarchy
 * mounted under /sys/fs/cgroup: deepest first, as a cgroup dir can only go once empty.
 * A test that makes kubelet-style parents leaves them to runc, which removes only its
 * container's own cgroup, never the parents.
 */
export async function removeCgroupTree(rel: string): Promise<void> {
  const roots = ['/sys/fs/cgroup', ...(await readdir('/sys/fs/cgroup').catch(() => [] as string[])).map((d) => join('/sys/fs/cgroup', d))];
  for (const root of roots) await removeDirs(join(root, rel));
}

async function removeDirs(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return;
  for (const e of entries) if (e.isDirectory()) await removeDirs(join(dir, e.name));
  await rmdir(dir).catch(() => undefined);
}
