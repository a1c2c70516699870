import { buildImage, buildLayer, busyboxRootfsEntries, pushImage, type LayerEntry } from '../../test/helpers/images.js';
import { startTestRegistry } from '../../test/helpers/test-registry.js';
import type { Cleanups } from './host.js';
import { checkInterrupted } from './teardown.js';

/** The benches' container image and containerd's sandbox image, in a registry of their own. */
export const IMAGE_REPO = 'bench/busybox';
export const PAUSE_REPO = 'bench/pause';
export const TAG = '1';
/** containerd's sandbox process: a busybox that sleeps. */
export const PAUSE_CMD = ['/bin/sleep', '2147483647'];

export interface Registry {
  host: string;
  url: string;
}

/**
 * Pushes both images: the static busybox, its applets symlinks rather than the test helper's
 * hardlinks (containerd applies a hardlink's header mode, 0644, to the inode it shares with
 * /bin/busybox, which could then not run).
 */
export async function pushBenchImages(registry: Registry): Promise<void> {
  const entries = (await busyboxRootfsEntries()).map((e): LayerEntry => (e.type === 'hardlink' ? { type: 'symlink', path: e.path, target: 'busybox' } : e));
  const layer = await buildLayer(entries);
  await pushImage(registry.url, IMAGE_REPO, buildImage({ layers: [layer], config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] } }), [TAG]);
  await pushImage(registry.url, PAUSE_REPO, buildImage({ layers: [layer], config: { Cmd: PAUSE_CMD } }), [TAG]);
}

/** A registry of the bench's own, stopped at teardown, with both images pushed. */
export async function startBenchRegistry(cleanups: Cleanups): Promise<Registry> {
  const registry = await startTestRegistry({ scope: 'suite' });
  cleanups.add('stop registry', () => registry.stop());
  await pushBenchImages(registry);
  checkInterrupted();
  return registry;
}
