import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createRequire } from 'node:module';
import { CoracleError } from '../errors.js';
import { readStreamCapped } from '../util/bounded-read.js';
import type { ContentStore } from './content-store.js';
import { isDigest, sha256Digest } from './digest.js';
import type { ImageRecord } from './image-store.js';
import { hostPlatform, MAX_MANIFEST_BYTES, MEDIA, parseManifestDoc, selectPlatform, type Descriptor, type ImageManifest } from './manifest.js';
import { parseReference, repoTag } from './reference.js';
import { readTar } from './tar-reader.js';

/** tar-stream is loaded at the first tarball made (a commit, an export), not at start; it is CommonJS. */
const pack = (): ReturnType<typeof import('tar-stream').pack> => (createRequire(import.meta.url)('tar-stream') as typeof import('tar-stream')).pack();

/**
 * Image tarballs, so that an image moves between hosts without a registry: what
 * `docker save` writes (manifest.json, config and layer files) and what an OCI image layout
 * holds (oci-layout, index.json, blobs/sha256/…). Export writes both in one tarball, as
 * Docker 25 does, so that either kind of loader takes it.
 */

/** An image found in an archive: its manifest is in the content store. */
export interface ArchiveImage {
  manifestDigest: string;
  manifestMediaType: string;
  manifest: ImageManifest;
  repoTags: string[];
}

const SMALL_FILES = new Set(['index.json', 'manifest.json', 'oci-layout', 'repositories']);
const MAX_SMALL = 4 << 20;
/** Blobs and docker-save files an archive may hold; their names are kept in memory. */
const MAX_FILES = 100_000;
/** Images an archive's index.json or manifest.json may list. */
const MAX_IMAGES = 1024;

const readAll = (body: AsyncIterable<Buffer>, what: string): Promise<Buffer> =>
  readStreamCapped(body, MAX_SMALL, () => new CoracleError('INVALID_ARGUMENT', `archive: ${what} is too large`));

function json<T>(buf: Buffer | undefined, what: string): T | undefined {
  if (!buf) return undefined;
  try {
    return JSON.parse(buf.toString('utf8')) as T;
  } catch (err) {
    throw new CoracleError('INVALID_ARGUMENT', `archive: ${what}: not JSON: ${(err as Error).message}`);
  }
}

/** A name as a repo tag; names that are not references (bare OCI tags) yield undefined. */
function asRepoTag(name: string | undefined): string | undefined {
  if (!name) return undefined;
  try {
    return repoTag(parseReference(name));
  } catch {
    return undefined;
  }
}

interface DockerSaveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/**
 * Reads an archive from `source`: every blob goes into the content store (checked against
 * its name where the name is a digest), and the images it holds are returned. `keep` is told
 * of every digest stored, so that the caller's lease covers it.
 */
export async function readArchive(
  source: AsyncIterable<Buffer>,
  content: ContentStore,
  keep: (digest: string) => void,
): Promise<ArchiveImage[]> {
  const small = new Map<string, Buffer>();
  const files = new Map<string, { digest: string; size: number }>();
  for await (const { header, body } of readTar(source)) {
    if (header.type !== 'file') continue;
    const name = posix.normalize(header.name).replace(/^(\.\/|\/)+/, '');
    if (SMALL_FILES.has(name)) {
      small.set(name, await readAll(body, name));
      continue;
    }
    const blob = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
    if ((blob || name.endsWith('.json') || name.endsWith('/layer.tar')) && files.size >= MAX_FILES) {
      throw new CoracleError('INVALID_ARGUMENT', `archive: more than ${MAX_FILES} files`);
    }
    if (blob) {
      const digest = `sha256:${blob[1]}`;
      keep(digest);
      await content.ingest(digest, header.size, async () => body);
      files.set(name, { digest, size: header.size });
    } else if (name.endsWith('.json') || name.endsWith('/layer.tar')) {
      const stored = await content.ingestUnknown(body);
      keep(stored.digest);
      files.set(name, stored);
    }
  }

  const index = json<{ manifests?: Descriptor[] }>(small.get('index.json'), 'index.json');
  const dockerSave = json<DockerSaveEntry[]>(small.get('manifest.json'), 'manifest.json') ?? [];
  if (!Array.isArray(dockerSave) || dockerSave.length > MAX_IMAGES || (index?.manifests?.length ?? 0) > MAX_IMAGES) {
    throw new CoracleError('INVALID_ARGUMENT', `archive: index.json or manifest.json lists more than ${MAX_IMAGES} images, or is not a list`);
  }
  const tagsByConfig = new Map<string, string[]>();
  for (const entry of dockerSave) {
    const cfg = files.get(posix.normalize(entry.Config));
    if (cfg) tagsByConfig.set(cfg.digest, (entry.RepoTags ?? []).map(asRepoTag).filter((t): t is string => !!t));
  }

  const images: ArchiveImage[] = [];
  if (index?.manifests) {
    for (const desc of index.manifests) {
      images.push(await fromDescriptor(desc, content, keep, tagsByConfig));
    }
    return merge(images);
  }
  if (dockerSave.length === 0) {
    throw new CoracleError('INVALID_ARGUMENT', 'archive: neither index.json nor manifest.json: not an image archive');
  }
  for (const entry of dockerSave) {
    const cfg = files.get(posix.normalize(entry.Config));
    if (!cfg) throw new CoracleError('INVALID_ARGUMENT', `archive: manifest.json names ${entry.Config}, which it lacks`);
    const layers: Descriptor[] = entry.Layers.map((l) => {
      const f = files.get(posix.normalize(l));
      if (!f) throw new CoracleError('INVALID_ARGUMENT', `archive: manifest.json names ${l}, which it lacks`);
      return { mediaType: MEDIA.dockerLayerTar, digest: f.digest, size: f.size };
    });
    // docker save has no manifest: one is made, so that the image has one like any other.
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MEDIA.dockerManifest,
      config: { mediaType: MEDIA.dockerConfig, digest: cfg.digest, size: cfg.size },
      layers,
    };
    const body = Buffer.from(JSON.stringify(manifest));
    const digest = sha256Digest(body);
    keep(digest);
    await content.put(digest, body);
    images.push({ manifestDigest: digest, manifestMediaType: MEDIA.dockerManifest, manifest, repoTags: tagsByConfig.get(cfg.digest) ?? [] });
  }
  return merge(images);
}

async function fromDescriptor(
  desc: Descriptor,
  content: ContentStore,
  keep: (digest: string) => void,
  tagsByConfig: Map<string, string[]>,
  nested = false,
): Promise<ArchiveImage> {
  if (!isDigest(desc.digest)) throw new CoracleError('INVALID_ARGUMENT', `archive: index.json: bad digest ${desc.digest}`);
  keep(desc.digest);
  const what = `archive: manifest ${desc.digest}`;
  const doc = parseManifestDoc(await content.read(desc.digest, MAX_MANIFEST_BYTES), desc.mediaType, what);
  // OCI's ref.name is often a bare tag ("latest"), which names no repository.
  const refName = desc.annotations?.['org.opencontainers.image.ref.name'];
  const names = [desc.annotations?.['io.containerd.image.name'] ?? (refName && /[/:]/.test(refName) ? refName : undefined)];
  if (doc.kind === 'index') {
    // As a pull: an index's entry is an image's manifest, not another index.
    if (nested) throw new CoracleError('INVALID_ARGUMENT', `${what}: an index entry is an index too`);
    const chosen = selectPlatform(doc.index, hostPlatform(), what);
    const inner = await fromDescriptor(chosen, content, keep, tagsByConfig, true);
    return { ...inner, repoTags: [...new Set([...names.map(asRepoTag).filter((t): t is string => !!t), ...inner.repoTags])] };
  }
  const tags = names.map(asRepoTag).filter((t): t is string => !!t);
  return {
    manifestDigest: desc.digest,
    manifestMediaType: desc.mediaType,
    manifest: doc.manifest,
    repoTags: [...new Set([...tags, ...(tagsByConfig.get(doc.manifest.config.digest) ?? [])])],
  };
}

/** One entry per manifest, with every name any entry gave it. */
function merge(images: ArchiveImage[]): ArchiveImage[] {
  const byDigest = new Map<string, ArchiveImage>();
  for (const image of images) {
    const prev = byDigest.get(image.manifestDigest);
    byDigest.set(image.manifestDigest, prev ? { ...prev, repoTags: [...new Set([...prev.repoTags, ...image.repoTags])] } : image);
  }
  return [...byDigest.values()];
}

/** Writes `images` as one tarball: OCI layout and docker-save manifest together. */
export function writeArchive(images: ImageRecord[], content: ContentStore): AsyncIterable<Buffer> {
  const tar = pack();
  const blobs = new Set<string>();
  const entries: Descriptor[] = [];
  const dockerSave: DockerSaveEntry[] = [];
  for (const image of images) {
    const tags = image.repoTags.length > 0 ? image.repoTags : [undefined];
    for (const tag of tags) {
      entries.push({
        mediaType: image.manifestMediaType,
        digest: image.manifestDigest,
        size: 0,
        ...(tag ? { annotations: { 'io.containerd.image.name': tag, 'org.opencontainers.image.ref.name': tag.slice(tag.lastIndexOf(':') + 1) } } : {}),
      });
    }
    dockerSave.push({
      Config: `blobs/sha256/${image.id.slice(7)}`,
      RepoTags: image.repoTags,
      Layers: image.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
    });
    for (const d of [image.manifestDigest, image.id, ...image.layers.map((l) => l.digest)]) blobs.add(d);
  }
  const write = async (): Promise<void> => {
    const put = (name: string, data: Buffer): Promise<void> =>
      new Promise((resolve, reject) => tar.entry({ name, mode: 0o644, mtime: new Date(0) }, data, (err) => (err ? reject(err) : resolve())));
    await put('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    for (const digest of blobs) {
      const size = (await content.size(digest)) ?? 0;
      let settle!: (err?: Error | null) => void;
      const done = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
      // The entry first: on a destroyed pack it throws, before the blob is opened.
      const entry = tar.entry({ name: `blobs/sha256/${digest.slice(7)}`, size, mode: 0o644, mtime: new Date(0) }, (err) => settle(err));
      // pipeline, not a write loop: once the pack is destroyed (the client cancelled), the
      // entry is destroyed with it, pipeline fails and closes the blob's read stream; a
      // loop waiting for the entry's `drain` would wait forever, holding the file open.
      await Promise.all([pipeline(createReadStream(content.path(digest), { highWaterMark: 1 << 20 }), entry), done]);
    }
    for (const e of entries) e.size = (await content.size(e.digest)) ?? 0;
    await put('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: entries })));
    await put('manifest.json', Buffer.from(JSON.stringify(dockerSave)));
    tar.finalize();
  };
  write().catch((err: unknown) => tar.destroy(err as Error));
  return tar as unknown as AsyncIterable<Buffer>;
}
