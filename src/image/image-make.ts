import { CoracleError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { chainIds } from './digest.js';
import type { ImageContext, Lease, OnPullProgress, PullProgress } from './image-deps.js';
import type { ImageConfigSummary, ImageLayer, ImageRecord } from './image-store.js';
import { MAX_CONFIG_BYTES, parseImageConfig, type ImageConfigDoc, type ImageManifest } from './manifest.js';
import { FEED_FAILED } from './blob-chunks.js';
import { BlobFeed } from './blob-feed.js';
import { NEEDS_LOWER_LAYERS } from './layer-writer.js';

/**
 * Brings a blob into the content store (download, or a check that it is there). A layer's
 * download opens `feed` on what it writes, for its unpack to follow (blob-feed.ts).
 */
export type FetchBlob = (digest: string, size: number, layer?: { feed: BlobFeed }) => Promise<void>;

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
  await fetch(configDigest, manifest.config.size);
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
 * Downloads run in parallel (up to the configured number), and each layer is unpacked side by
 * side with the others (each has its own directory) as its blob downloads: the unpack follows
 * what is written, and its snapshot is made once the blob's digest matched (blob-feed.ts).
 * A blob already there, or downloaded for another pull, is unpacked from the store. The rare
 * layer that hardlinks into a lower one waits for its parents and is unpacked again; so is
 * one whose followed download failed, once a retry has brought the blob.
 */
async function fetchAndUnpack(cx: ImageContext, layers: ImageLayer[], fetch: FetchBlob, log: Logger, progress?: OnPullProgress): Promise<void> {
  const { snapshots } = cx.deps;
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
        const t = Date.now();
        await fetchLayer(cx, l, { parent, below }, fetch, log, () => tell(l, 'extracting'));
        log.debug('layer unpacked', { layer: l.digest, chainId: l.chainId, ms: Date.now() - t });
        tell(l, 'done');
      })(),
    );
  });
  const results = await Promise.allSettled(unpacked);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * One layer downloaded and unpacked: as it downloads, following its feed; or from the store
 * (its blob was there, or downloaded for another pull). `onDownloaded` is told when its blob
 * is in.
 */
async function fetchLayer(
  cx: ImageContext,
  l: ImageLayer,
  lower: { parent: string | undefined; below: Promise<void> },
  fetch: FetchBlob,
  log: Logger,
  onDownloaded: () => void,
): Promise<void> {
  const { snapshots, content } = cx.deps;
  const feed = new BlobFeed();
  const downloaded = cx.download(() => fetch(l.digest, l.size, { feed }));
  try {
    // The download's failure, if it comes first, is the layer's.
    const fd = await Promise.race([feed.opened, downloaded.then(() => undefined)]);
    const [streamed] = fd === undefined ? [] : await Promise.allSettled([snapshots.unpack(l.chainId, lower.parent, l.diffId, { path: content.path(l.digest), fd, feed }, false)]);
    await downloaded;
    onDownloaded();
    if (streamed?.status === 'fulfilled') return;
    if (streamed) {
      // Unpacked again from the store: a layer that needs its parents, or whose followed
      // download failed (this one, or another pull's of the same layer).
      const why = messageOf(streamed.reason);
      if (feed.state.end !== 'failed' && ![NEEDS_LOWER_LAYERS, FEED_FAILED].some((m) => why.endsWith(m))) throw streamed.reason;
      log.debug('layer unpacked again from the store', { layer: l.digest, why });
    }
    try {
      await snapshots.unpack(l.chainId, lower.parent, l.diffId, content.path(l.digest), false);
    } catch (err) {
      if (!messageOf(err).endsWith(NEEDS_LOWER_LAYERS)) throw err;
      await lower.below;
      await snapshots.unpack(l.chainId, lower.parent, l.diffId, content.path(l.digest), true);
    }
  } finally {
    feed.close();
  }
}
