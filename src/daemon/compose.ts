import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { CriServices } from '../cri/server.js';
import { FileContentStore } from '../image/content-store.js';
import { ImageService } from '../image/image-service.js';
import { ImageStore } from '../image/image-store.js';
import { hostPlatform } from '../image/manifest.js';
import { RegistryClient } from '../image/registry-client.js';
import { DirSnapshotter } from '../image/snapshotter.js';
import { UnpackPool } from '../image/unpack-pool.js';
import type { Logger } from '../log.js';
import { probeCni } from '../netns/cni-probe.js';
import { RuntimeHandlers } from '../oci/runtime-handlers.js';
import { RuntimeSettings } from '../runtime/runtime-settings.js';
import { RuntimeStatusService } from '../runtime/runtime-status.js';

export interface Services extends CriServices {
  /** Releases what the services hold (worker threads, connection pools). */
  close(): Promise<void>;
}

/**
 * The composition root: the one place that knows which implementation backs which
 * interface. Tests build the same graph over a temp root through the same function.
 */
export async function composeServices(config: Config, log: Logger): Promise<Services> {
  const settings = new RuntimeSettings(config.state);
  await settings.load();
  const handlers = new RuntimeHandlers(config.runtime);
  const runtimeStatus = new RuntimeStatusService({
    config,
    handlers,
    probeNetwork: () => probeCni(config.cni.conf_dir, config.cni.bin_dirs),
    podCidr: () => settings.podCidr,
  });

  const imageRoot = join(config.root, 'image');
  const content = new FileContentStore(join(imageRoot, 'content'));
  await content.init();
  const pool = new UnpackPool(Math.max(1, Math.min(2, availableParallelism())));
  const snapshots = new DirSnapshotter(join(imageRoot, 'snapshots'), pool);
  await snapshots.init();
  const store = new ImageStore(join(imageRoot, 'images'), log);
  await store.init();
  const registry = new RegistryClient({
    headersTimeoutMs: 30_000,
    progressTimeoutMs: config.image.pull_progress_timeout * 1000,
    attempts: 3,
    log,
  });
  const images = new ImageService({
    store,
    content,
    snapshots,
    registry,
    hosts: config.registry.hosts,
    maxConcurrentDownloads: config.image.max_concurrent_downloads,
    platform: hostPlatform(),
    root: imageRoot,
    log,
  });
  return {
    runtimeStatus,
    settings,
    images,
    async close() {
      await pool.close();
      await registry.close();
    },
  };
}
