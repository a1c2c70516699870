import { CoracleError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { chainIds } from './digest.js';
import type { ImageContext, Lease, OnPullProgress, PullProgress } from './image-deps.js';
import type { ImageConfigSummary, ImageLayer, ImageRecord } from './image-store.js';
import { MAX_CONFIG_BYTES, parseImageConfig, type ImageConfigDoc, type ImageManifest } from './manifest.js';
import { NEEDS_LOWER_LAYERS } from './unpack.js';

/** Brings a blob into the content store (download, or a check that it is there). */
export type FetchBlob = (digest: string, size: number, layer?: boolean) => Promise<void>;

export function summarise(doc: ImageConfigDoc): ImageConfigSummary {
  const c = doc.config ?? {};
  return {
    user: c.User ?? '',
    env: c.Env ?? [],
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    workingDir: c.WorkingDir ?? '',
    exposedPorts: Object.keys(c.ExposedPorts ?? {}).sort(),
    volumes: Object.keys(c.Volumes ?? {}).sort(),
    labels: c.Labels ?? {},
    stopSignal: c.StopSignal ?? '',
  };
}

/**
 * Makes a manifest an image: its config and layers into the content store (through
 * `fetch`, which may download them), layers unpacked, then the record written with
 * `names`. Shared by pull, import and commit.
 */
export async function makeImage(
  cx: ImageContext,
  m: { name: string; manifest: ImageManifest; manifestDigest: string; manifestMediaType: string },
  names: { repoTags: string[]; repoDigests: string[]; content: string[] },
  fetch: FetchBlob,
  lease: Lease,
  log: Logger,
  progress?: OnPullProgress,
): Promise<ImageRecord> {
  const { content } = cx.deps;
  const started = Date.now();
  const { manifest, name } = m;
  const configDigest = manifest.config.digest;
  lease.digests.add(m.manifestDigest);
  lease.digests.add(configDigest);
  if (manifest.config.size > MAX_CONFIG_BYTES) {
    throw new CoracleError('FAILED_PRECONDITION', `${name}: config ${configDigest}: ${manifest.config.size} bytes, more than the ${MAX_CONFIG_BYTES} allowed`);
  }
  await fetch(configDigest, manifest.config.size, false);
  const config = parseImageConfig(await content.read(configDigest, MAX_CONFIG_BYTES), `${name}: config ${configDigest}`);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new CoracleError(
      'FAILED_PRECONDITION',
      `${name}: manifest has ${manifest.layers.length} layers, config ${diffIds.length} diff_ids`,
    );
  }
  const chains = chainIds(diffIds);
  const layers: ImageLayer[] = manifest.layers.map((l, i) => ({
    digest: l.digest,
    mediaType: l.mediaType,
    size: l.size,
    diffId: diffIds[i]!,
    chainId: chains[i]!,
  }));
  for (const l of layers) {
    lease.digests.add(l.digest);
    lease.chains.add(l.chainId);
  }
  await fetchAndUnpack(cx, layers, fetch, log, progress);
  const record: ImageRecord = {
    id: configDigest,
    repoTags: names.repoTags,
    repoDigests: names.repoDigests,
    manifestDigest: m.manifestDigest,
    manifestMediaType: m.manifestMediaType,
    content: [...new Set([...names.content, m.manifestDigest, configDigest, ...layers.map((l) => l.digest)])],
    size: manifest.config.size + layers.reduce((n, l) => n + l.size, 0),
    layers,
    config: summarise(config),
    ...(config.created ? { created: config.created } : {}),
    pulledAt: new Date().toISOString(),
  };
  const stored = await cx.meta.run(() => cx.deps.store.put(record));
  log.info('image stored', { image: stored.id, names: [...names.repoTags, ...names.repoDigests], layers: layers.length, ms: Date.now() - started });
  return stored;
}

/**
 * Downloads run in parallel (up to the configured number) and each layer is unpacked as
 * soon as its blob is in, side by side with the others (each has its own directory). The
 * rare layer that hardlinks into a lower one waits for its parents and is unpacked again.
 */
async function fetchAndUnpack(cx: ImageContext, layers: ImageLayer[], fetch: (digest: string, size: number) => Promise<void>, log: Logger, progress?: OnPullProgress): Promise<void> {
  const { snapshots, content } = cx.deps;
  const present = await Promise.all(layers.map((l) => snapshots.stat(l.chainId)));
  const tell = (l: ImageLayer, status: PullProgress['status']): void => progress?.({ layer: l.digest, status, current: status === 'done' ? l.size : 0, total: l.size });
  layers.forEach((l, i) => tell(l, present[i] ? 'exists' : 'waiting'));
  const unpacked: Promise<void>[] = [];
  layers.forEach((l, i) => {
    const parent = i > 0 ? layers[i - 1]!.chainId : undefined;
    const below = i > 0 ? unpacked[i - 1]! : Promise.resolve();
    unpacked.push(
      (async () => {
        if (present[i]) return;
        await cx.download(() => fetch(l.digest, l.size));
        tell(l, 'extracting');
        const t = Date.now();
        try {
          await snapshots.unpack(l.chainId, parent, l.diffId, content.path(l.digest), false);
        } catch (err) {
          if (!messageOf(err).endsWith(NEEDS_LOWER_LAYERS)) throw err;
          await below;
          await snapshots.unpack(l.chainId, parent, l.diffId, content.path(l.digest), true);
        }
        log.debug('layer unpacked', { layer: l.digest, chainId: l.chainId, ms: Date.now() - t });
        tell(l, 'done');
      })(),
    );
  });
  const results = await Promise.allSettled(unpacked);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
