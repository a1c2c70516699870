import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { CoracleError, messageOf, notFound, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { limiter, Mutex } from '../util/limit.js';
import type { ContentStore } from './content-store.js';
import { chainIds } from './digest.js';
import { readArchive, writeArchive } from './image-archive.js';
import type { ImageConfigSummary, ImageLayer, ImageRecord, ImageStore } from './image-store.js';
import {
  MAX_CONFIG_BYTES,
  MEDIA,
  parseImageConfig,
  parseManifestDoc,
  selectPlatform,
  type ImageConfigDoc,
  type ImageManifest,
  type Platform,
} from './manifest.js';
import { isImageId, parseReference, repoDigest, repoTag, type ImageReference } from './reference.js';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
import type { RegistryCredentials } from './registry-auth.js';
import type { FetchedManifest, RegistryRepository } from './registry-client.js';
import { endpointsFor, type Endpoint, type RegistryHostConfig } from './registry-hosts.js';
import type { Snapshotter } from './snapshotter.js';
import { NEEDS_LOWER_LAYERS } from './unpack.js';

export interface RegistryAccess {
  repository(endpoint: Endpoint, repository: string, credentials: RegistryCredentials | undefined): RegistryRepository;
}

/** What else holds images: containers keep their image's snapshots (step 4 fills this in). */
export interface SnapshotUsers {
  chainIdsInUse(): Iterable<string>;
}

export interface ImageServiceDeps {
  store: ImageStore;
  content: ContentStore;
  snapshots: Snapshotter;
  registry: RegistryAccess;
  hosts: Record<string, RegistryHostConfig>;
  maxConcurrentDownloads: number;
  platform: Platform;
  users?: SnapshotUsers;
  /** Where content and snapshots live, reported by ImageFsInfo. */
  root: string;
  log: Logger;
}

/** How far a pull is with one layer (docker pull's progress lines). */
export interface PullProgress {
  layer: string;
  status: 'exists' | 'waiting' | 'downloading' | 'extracting' | 'done';
  /** Bytes so far and in all, while downloading. */
  current: number;
  total: number;
}

export type OnPullProgress = (p: PullProgress) => void;

/** One step of an image's history (docker history). */
export interface HistoryStep {
  id?: string;
  /** RFC 3339, or '' when the config does not say. */
  created: string;
  createdBy: string;
  comment: string;
  emptyLayer: boolean;
  /** Bytes of the layer the step made, unpacked. */
  size: number;
}

export interface ImageFsUsage {
  /** The directory that holds image data, on the filesystem it uses. */
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
}

const INGEST_ATTEMPTS = 3;

/** Content and snapshots a pull in progress holds, so that collection leaves them alone. */
class Lease {
  readonly digests = new Set<string>();
  readonly chains = new Set<string>();
}

function summarise(doc: ImageConfigDoc): ImageConfigSummary {
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

/** One error for a pull that failed on every endpoint: the shared code, or UNAVAILABLE. */
function combined(ref: string, errors: { endpoint: string; err: unknown }[]): CoracleError {
  const codes = new Set(errors.map((e) => (e.err instanceof CoracleError ? e.err.code : 'INTERNAL')));
  const code: ErrorCode = codes.size === 1 ? [...codes][0]! : 'UNAVAILABLE';
  const detail = errors.map((e) => messageOf(e.err)).join('; ');
  return new CoracleError(code, `image "${ref}": pull failed: ${detail}`);
}

/**
 * Pulls, finds, lists and removes images. A pull fetches the manifest (choosing this host's
 * platform from an index), then the config, then downloads layers in parallel and unpacks
 * each as soon as it and its parent are ready; only when every layer is in place is the
 * image recorded. A failed pull leaves nothing: what it fetched is collected.
 */
export class ImageService {
  private readonly leases = new Set<Lease>();
  private readonly meta = new Mutex();
  private readonly download: <T>(task: () => Promise<T>) => Promise<T>;

  constructor(private readonly deps: ImageServiceDeps) {
    this.download = limiter(deps.maxConcurrentDownloads);
  }

  /** The image `text` names: an id, an id prefix, a tag or a repo digest; undefined if none. */
  find(text: string): ImageRecord | undefined {
    const { store } = this.deps;
    if (isImageId(text)) {
      const id = text.startsWith('sha256:') ? text : `sha256:${text}`;
      return store.get(id);
    }
    let ref: ImageReference | undefined;
    try {
      ref = parseReference(text);
    } catch {
      ref = undefined;
    }
    if (ref) {
      const found = ref.digest ? store.byDigest(repoDigest(ref, ref.digest)) : store.byTag(repoTag(ref)!);
      if (found) return found;
    }
    if (/^(sha256:)?[a-f0-9]{3,63}$/.test(text)) return store.byIdPrefix(text.replace(/^sha256:/, ''));
    if (!ref) parseReference(text); // rethrows the reference's own error
    return undefined;
  }

  list(): ImageRecord[] {
    return this.deps.store.all();
  }

  async pull(text: string, credentials: RegistryCredentials | undefined, log: Logger, signal?: AbortSignal, progress?: OnPullProgress): Promise<ImageRecord> {
    const ref = parseReference(text);
    const endpoints = endpointsFor(ref.registry, this.deps.hosts);
    const errors: { endpoint: string; err: unknown }[] = [];
    for (const endpoint of endpoints) {
      const repo = this.deps.registry.repository(endpoint, ref.repository, credentials);
      let top: FetchedManifest;
      try {
        top = await repo.manifest(ref.digest ?? ref.tag!, signal);
      } catch (err) {
        log.info('pull: endpoint failed', { endpoint: endpoint.url, error: messageOf(err) });
        errors.push({ endpoint: endpoint.url, err });
        continue;
      }
      log.debug('pull: manifest resolved', { endpoint: endpoint.url, digest: top.digest });
      return this.pullFrom(ref, repo, top, log, signal, progress);
    }
    throw combined(text, errors);
  }

  private async pullFrom(ref: ImageReference, repo: RegistryRepository, top: FetchedManifest, log: Logger, signal?: AbortSignal, progress?: OnPullProgress): Promise<ImageRecord> {
    const { content } = this.deps;
    return this.withLease(log, async (lease) => {
      const name = `image "${repo.repository}@${top.digest}"`;
      lease.digests.add(top.digest);
      await content.put(top.digest, top.body);
      let doc = parseManifestDoc(top.body, top.mediaType, `${name}: manifest`);
      let manifest = { digest: top.digest, mediaType: top.mediaType ?? '' };
      if (doc.kind === 'index') {
        const chosen = selectPlatform(doc.index, this.deps.platform, `${name}: index`);
        const child = await repo.manifest(chosen.digest, signal);
        lease.digests.add(child.digest);
        await content.put(child.digest, child.body);
        doc = parseManifestDoc(child.body, child.mediaType ?? chosen.mediaType, `${name}: manifest ${chosen.digest}`);
        manifest = { digest: child.digest, mediaType: child.mediaType ?? chosen.mediaType };
      }
      if (doc.kind !== 'manifest') {
        throw new CoracleError('FAILED_PRECONDITION', `${name}: index entry ${manifest.digest} is an index too`);
      }
      const tag = ref.digest ? undefined : repoTag(ref);
      // Only layers are shown downloading; the config is fetched before them, quietly.
      const fetch = (digest: string, size: number, layer = true): Promise<void> => this.ingest(repo, digest, size, signal, layer ? progress : undefined);
      return this.commit(
        { name, manifest: doc.manifest, manifestDigest: manifest.digest, manifestMediaType: manifest.mediaType || doc.manifest.mediaType || MEDIA.ociManifest },
        { repoTags: tag ? [tag] : [], repoDigests: [repoDigest(ref, top.digest)], content: [top.digest] },
        fetch,
        lease,
        log,
        progress,
      );
    });
  }

  /** Runs `work` holding a lease; a failure collects whatever the work left unreferenced. */
  private async withLease<T>(log: Logger, work: (lease: Lease) => Promise<T>): Promise<T> {
    const lease = new Lease();
    this.leases.add(lease);
    try {
      return await work(lease);
    } catch (err) {
      this.leases.delete(lease);
      await this.collect(log).catch((gcErr: unknown) => log.error('collection after a failed operation failed', { error: messageOf(gcErr) }));
      throw err;
    } finally {
      this.leases.delete(lease);
    }
  }

  /**
   * Makes a manifest an image: its config and layers into the content store (through
   * `fetch`, which may download them), layers unpacked, then the record written with
   * `names`. Shared by pull and import.
   */
  private async commit(
    m: { name: string; manifest: ImageManifest; manifestDigest: string; manifestMediaType: string },
    names: { repoTags: string[]; repoDigests: string[]; content: string[] },
    fetch: (digest: string, size: number, layer?: boolean) => Promise<void>,
    lease: Lease,
    log: Logger,
    progress?: OnPullProgress,
  ): Promise<ImageRecord> {
    const { content } = this.deps;
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
    await this.fetchAndUnpack(layers, fetch, log, progress);
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
    const stored = await this.meta.run(() => this.deps.store.put(record));
    log.info('image stored', { image: stored.id, names: [...names.repoTags, ...names.repoDigests], layers: layers.length, ms: Date.now() - started });
    return stored;
  }

  /** A blob into the content store, with a few attempts for a connection that broke. */
  private async ingest(repo: RegistryRepository, digest: string, size: number, signal?: AbortSignal, progress?: OnPullProgress): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.deps.content.ingest(digest, size, async () => (progress ? counted(await repo.blob(digest, signal), digest, size, progress) : repo.blob(digest, signal)));
        return;
      } catch (err) {
        const code = err instanceof CoracleError ? err.code : 'INTERNAL';
        const retryable = code === 'UNAVAILABLE' || code === 'INTERNAL';
        if (!retryable || attempt >= INGEST_ATTEMPTS || signal?.aborted) throw err;
      }
    }
  }

  /**
   * Downloads run in parallel (up to the configured number) and each layer is unpacked as
   * soon as its blob is in, side by side with the others (each has its own directory). The
   * rare layer that hardlinks into a lower one waits for its parents and is unpacked again.
   */
  private async fetchAndUnpack(layers: ImageLayer[], fetch: (digest: string, size: number) => Promise<void>, log: Logger, progress?: OnPullProgress): Promise<void> {
    const { snapshots, content } = this.deps;
    const present = await Promise.all(layers.map((l) => snapshots.get(l.chainId)));
    const tell = (l: ImageLayer, status: PullProgress['status']): void => progress?.({ layer: l.digest, status, current: status === 'done' ? l.size : 0, total: l.size });
    layers.forEach((l, i) => tell(l, present[i] ? 'exists' : 'waiting'));
    const unpacked: Promise<void>[] = [];
    layers.forEach((l, i) => {
      const parent = i > 0 ? layers[i - 1]!.chainId : undefined;
      const below = i > 0 ? unpacked[i - 1]! : Promise.resolve();
      unpacked.push(
        (async () => {
          if (present[i]) return;
          await this.download(() => fetch(l.digest, l.size));
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

  /** Loads the images of an archive (docker-save or OCI layout) streamed from `source`. */
  async importArchive(source: AsyncIterable<Buffer>, log: Logger): Promise<ImageRecord[]> {
    const { content } = this.deps;
    return this.withLease(log, async (lease) => {
      const found = await readArchive(source, content, (d) => lease.digests.add(d));
      const out: ImageRecord[] = [];
      for (const image of found) {
        const fetch = async (digest: string): Promise<void> => {
          if ((await content.size(digest)) === undefined) {
            throw new CoracleError('INVALID_ARGUMENT', `archive: blob ${digest} is named but not included`);
          }
        };
        out.push(
          await this.commit(
            { name: `archive image ${image.manifestDigest}`, manifest: image.manifest, manifestDigest: image.manifestDigest, manifestMediaType: image.manifestMediaType },
            { repoTags: image.repoTags, repoDigests: [], content: [] },
            fetch,
            lease,
            log,
          ),
        );
      }
      return out;
    });
  }

  /** The images `texts` name, as one archive; every name must resolve. */
  exportArchive(texts: string[]): AsyncIterable<Buffer> {
    if (texts.length === 0) throw new CoracleError('INVALID_ARGUMENT', 'export: no image named');
    const images = texts.map((t) => {
      const image = this.find(t);
      if (!image) throw new CoracleError('NOT_FOUND', `image "${t}": not found`);
      return image;
    });
    return writeArchive([...new Map(images.map((i) => [i.id, i])).values()], this.deps.content);
  }

  /** Removes the image `text` names, with all its tags; nothing named is no error. */
  /**
   * A new image: `base` with one more layer on top, from `layer` (an uncompressed tar in
   * OCI layer form), a history step for it, tagged `tag` when given (docker commit). The
   * layer is stored gzipped, its config and an OCI manifest beside it, then it is made an
   * image the way a pull makes one (unpacked into its snapshot, the record written).
   */
  async commitLayer(baseText: string, layer: AsyncIterable<Buffer>, o: { tag?: string; createdBy: string; comment: string; author: string }, log: Logger): Promise<ImageRecord> {
    const base = this.find(baseText);
    if (!base) throw notFound(`image ${baseText}: not found`);
    const tag = o.tag ? repoTag(parseReference(o.tag)) : undefined;
    if (o.tag && !tag) throw new CoracleError('INVALID_ARGUMENT', `${o.tag}: a commit is named by repository[:tag], not by digest`);
    const { content } = this.deps;
    return this.withLease(log, async (lease) => {
      // The diff id is the digest of the tar itself, the blob's of its gzip.
      const diff = createHash('sha256');
      const tap = new Transform({
        transform(chunk: Buffer, _enc, done) {
          diff.update(chunk);
          done(null, chunk);
        },
      });
      const gz = new PassThrough();
      // Awaited together: a tar that fails mid-way rejects both, and neither may go unheard.
      const [blob] = await Promise.all([content.ingestUnknown(gz), pipeline(Readable.from(layer), tap, createGzip(), gz)]);
      lease.digests.add(blob.digest);
      const diffId = `sha256:${diff.digest('hex')}`;

      const raw = JSON.parse((await content.read(base.id)).toString('utf8')) as Record<string, unknown> & { rootfs: { diff_ids: string[] }; history?: unknown[] };
      const created = new Date().toISOString();
      const config = Buffer.from(
        JSON.stringify({
          ...raw,
          created,
          ...(o.author ? { author: o.author } : {}),
          rootfs: { type: 'layers', diff_ids: [...raw.rootfs.diff_ids, diffId] },
          history: [...(raw.history ?? []), { created, created_by: o.createdBy, ...(o.author ? { author: o.author } : {}), ...(o.comment ? { comment: o.comment } : {}) }],
        }),
      );
      const configDigest = sha256(config);
      await content.put(configDigest, config);
      lease.digests.add(configDigest);
      const manifestBody = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MEDIA.ociManifest,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
          layers: [...base.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })), { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: blob.digest, size: blob.size }],
        }),
      );
      const manifestDigest = sha256(manifestBody);
      await content.put(manifestDigest, manifestBody);
      const parsed = parseManifestDoc(manifestBody, MEDIA.ociManifest, `commit of ${base.id}`);
      if (parsed.kind !== 'manifest') throw new CoracleError('INTERNAL', `commit of ${base.id}: made a manifest that does not read as one`);
      const present = async (digest: string): Promise<void> => {
        if ((await content.size(digest)) === undefined) throw new CoracleError('FAILED_PRECONDITION', `commit of ${base.id}: blob ${digest} of the base image is gone`);
      };
      return this.commit(
        { name: `commit of ${base.id}`, manifest: parsed.manifest, manifestDigest, manifestMediaType: MEDIA.ociManifest },
        { repoTags: tag ? [tag] : [], repoDigests: [], content: [] },
        present,
        lease,
        log,
      );
    });
  }

  /**
   * How the image was made, newest first: its config's history steps, each step that made
   * a layer matched with the next layer in order (docker's rule), sized as unpacked.
   */
  async history(text: string): Promise<HistoryStep[]> {
    const image = this.find(text);
    if (!image) throw notFound(`image ${text}: not found`);
    const config = parseImageConfig(await this.deps.content.read(image.id), `image ${image.id}: config`);
    const sizeOf = async (layer: ImageLayer | undefined): Promise<number> => (layer ? ((await this.deps.snapshots.get(layer.chainId))?.bytes ?? layer.size) : 0);
    const steps: HistoryStep[] = [];
    let next = 0;
    for (const h of config.history ?? []) {
      const layer = h.empty_layer ? undefined : image.layers[next++];
      steps.push({ created: h.created ?? '', createdBy: h.created_by ?? '', comment: h.comment ?? '', emptyLayer: h.empty_layer === true, size: await sizeOf(layer) });
    }
    // Layers the history does not tell of (a config without history) get a step each.
    for (; next < image.layers.length; next++) steps.push({ created: '', createdBy: '', comment: '', emptyLayer: false, size: await sizeOf(image.layers[next]) });
    return steps.reverse().map((s, i) => ({ ...s, id: i === 0 ? image.id : '<missing>' }));
  }

  async remove(text: string, log: Logger): Promise<void> {
    await this.meta.run(async () => {
      const image = this.find(text);
      if (!image) return;
      await this.deps.store.remove(image.id);
      log.info('image removed', { image: image.id, tags: image.repoTags });
    });
    await this.collect(log);
  }

  /** Deletes content and snapshots that no image, container or pull in progress holds. */
  async collect(log: Logger): Promise<void> {
    await this.meta.run(async () => {
      const { store, content, snapshots, users } = this.deps;
      const keepDigests = new Set<string>();
      const keepChains = new Set<string>(users ? [...users.chainIdsInUse()] : []);
      for (const image of store.all()) {
        image.content.forEach((d) => keepDigests.add(d));
        image.layers.forEach((l) => keepChains.add(l.chainId));
      }
      for (const lease of this.leases) {
        lease.digests.forEach((d) => keepDigests.add(d));
        lease.chains.forEach((c) => keepChains.add(c));
      }
      // A kept snapshot keeps its parents: overlay needs the whole chain.
      for (const info of await snapshots.list()) {
        if (!keepChains.has(info.chainId)) continue;
        for (let p = info.parent; p; p = (await snapshots.get(p))?.parent) keepChains.add(p);
      }
      let blobs = 0;
      let snaps = 0;
      for (const digest of await content.list()) {
        if (!keepDigests.has(digest)) {
          await content.remove(digest);
          blobs++;
        }
      }
      for (const info of await snapshots.list()) {
        if (!keepChains.has(info.chainId)) {
          await snapshots.remove(info.chainId);
          snaps++;
        }
      }
      if (blobs + snaps > 0) log.info('collected unused image data', { blobs, snapshots: snaps });
    });
  }

  async usage(): Promise<ImageFsUsage> {
    const { content, snapshots } = this.deps;
    let usedBytes = 0;
    let inodesUsed = 0;
    for (const info of await snapshots.list()) {
      usedBytes += info.bytes;
      inodesUsed += info.inodes;
    }
    for (const digest of await content.list()) {
      usedBytes += (await content.size(digest)) ?? 0;
      inodesUsed++;
    }
    return { mountpoint: this.deps.root, usedBytes, inodesUsed };
  }
}

/** A blob's bytes as they come, reported at most every 100 ms (and at the end). */
async function* counted(source: AsyncIterable<Buffer>, layer: string, total: number, progress: OnPullProgress): AsyncIterable<Buffer> {
  let current = 0;
  let last = 0;
  for await (const chunk of source) {
    current += chunk.length;
    const now = Date.now();
    if (now - last >= 100 || current === total) {
      last = now;
      progress({ layer, status: 'downloading', current, total });
    }
    yield chunk;
  }
}
