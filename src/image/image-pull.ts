import { CoracleError, messageOf, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { ImageContext, OnPullProgress } from './image-deps.js';
import { withLease } from './image-gc.js';
import { makeImage, type FetchBlob } from './image-make.js';
import type { BlobFeed } from './blob-feed.js';
import type { ImageRecord } from './image-store.js';
import { MEDIA, parseManifestDoc, selectPlatform } from './manifest.js';
import { parseReference, repoDigest, repoTag, type ImageReference } from './reference.js';
import { readCredentialsFile } from './credentials-file.js';
import { credentialsFor, type DockerConfig } from './docker-config.js';
import type { RegistryCredentials } from './registry-auth.js';
import type { FetchedManifest, RegistryRepository } from './registry-client.js';
import { endpointsFor } from './registry-hosts.js';

const INGEST_ATTEMPTS = 3;

/** One error for a pull that failed on every endpoint: the shared code, or UNAVAILABLE. */
export function combined(ref: string, errors: { endpoint: string; err: unknown }[]): CoracleError {
  const codes = new Set(errors.map((e) => (e.err instanceof CoracleError ? e.err.code : 'INTERNAL')));
  const code: ErrorCode = codes.size === 1 ? [...codes][0]! : 'UNAVAILABLE';
  const detail = errors.map((e) => messageOf(e.err)).join('; ');
  // One endpoint's error is the cause; several are kept together, in the order tried.
  const cause = errors.length === 1 ? errors[0]!.err : new AggregateError(errors.map((e) => e.err), `${errors.length} endpoints failed`);
  return new CoracleError(code, `image "${ref}": pull failed: ${detail}`, { cause });
}

/**
 * The credentials for one endpoint: the request's (kubelet's) when it carries any, else the
 * daemon's own file's entry for the endpoint's host (a mirror's own, the registry's for it).
 */
function credentialsForEndpoint(given: RegistryCredentials | undefined, file: { path: string; doc: DockerConfig } | undefined, authHost: string): RegistryCredentials | undefined {
  if (given || !file) return given;
  return credentialsFor(file.doc, authHost, `[registry] config_path ${file.path}`);
}

/**
 * A pull fetches the manifest from the first endpoint that has it (choosing this host's
 * platform from an index), then the config, then downloads layers in parallel and unpacks
 * each while it downloads (image-make.ts); only when every layer is in place is the image
 * recorded. A failed pull leaves nothing: what it fetched is collected.
 */
export async function pullImage(cx: ImageContext, text: string, credentials: RegistryCredentials | undefined, log: Logger, signal?: AbortSignal, progress?: OnPullProgress): Promise<ImageRecord> {
  const ref = parseReference(text);
  const endpoints = endpointsFor(ref.registry, cx.deps.hosts);
  const errors: { endpoint: string; err: unknown }[] = [];
  const path = cx.deps.credentialsFile;
  const file = !credentials && path ? { path, doc: await readCredentialsFile(path) } : undefined;
  for (const endpoint of endpoints) {
    const repo = cx.deps.registry.repository(endpoint, ref.repository, credentialsForEndpoint(credentials, file, endpoint.authHost));
    let top: FetchedManifest;
    try {
      top = await repo.manifest(ref.digest ?? ref.tag!, signal);
    } catch (err) {
      log.info('pull: endpoint failed', { endpoint: endpoint.url, error: messageOf(err) });
      errors.push({ endpoint: endpoint.url, err });
      continue;
    }
    log.debug('pull: manifest resolved', { endpoint: endpoint.url, digest: top.digest });
    cx.deps.metrics?.received(top.body.length);
    return pullFrom(cx, ref, repo, top, log, signal, progress);
  }
  throw combined(text, errors);
}

async function pullFrom(cx: ImageContext, ref: ImageReference, repo: RegistryRepository, top: FetchedManifest, log: Logger, signal?: AbortSignal, progress?: OnPullProgress): Promise<ImageRecord> {
  const { content } = cx.deps;
  return withLease(cx, log, async (lease) => {
    const name = `image "${repo.repository}@${top.digest}"`;
    lease.digests.add(top.digest);
    await content.put(top.digest, top.body);
    let doc = parseManifestDoc(top.body, top.mediaType, `${name}: manifest`);
    let manifest = { digest: top.digest, mediaType: top.mediaType ?? '' };
    if (doc.kind === 'index') {
      const chosen = selectPlatform(doc.index, cx.deps.platform, `${name}: index`);
      const child = await repo.manifest(chosen.digest, signal);
      cx.deps.metrics?.received(child.body.length);
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
    const fetch: FetchBlob = (digest, size, layer) => ingest(cx, repo, digest, size, signal, layer ? progress : undefined, layer?.feed);
    return makeImage(
      cx,
      { name, manifest: doc.manifest, manifestDigest: manifest.digest, manifestMediaType: manifest.mediaType || doc.manifest.mediaType || MEDIA.ociManifest },
      { repoTags: tag ? [tag] : [], repoDigests: [repoDigest(ref, top.digest)], content: [top.digest] },
      fetch,
      lease,
      log,
      progress,
    );
  });
}

/**
 * A blob into the content store, with a few attempts for a connection that broke. `feed`
 * follows the first attempt only (a failed one fails it).
 */
async function ingest(cx: ImageContext, repo: RegistryRepository, digest: string, size: number, signal?: AbortSignal, progress?: OnPullProgress, feed?: BlobFeed): Promise<void> {
  const received = cx.deps.metrics ? (n: number): void => cx.deps.metrics!.received(n) : undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      await cx.deps.content.ingest(digest, size, async () => (progress || received ? counted(await repo.blob(digest, signal), digest, size, progress, received) : repo.blob(digest, signal)), feed);
      return;
    } catch (err) {
      const code = err instanceof CoracleError ? err.code : 'INTERNAL';
      const retryable = code === 'UNAVAILABLE' || code === 'INTERNAL';
      if (!retryable || attempt >= INGEST_ATTEMPTS || signal?.aborted) throw err;
    }
  }
}

/**
 * A blob's bytes as they come: to the progress at most every 100 ms (and at the end), and
 * to the metrics chunk by chunk (a retried download's bytes count again: they were received).
 */
async function* counted(source: AsyncIterable<Buffer>, layer: string, total: number, progress: OnPullProgress | undefined, received: ((n: number) => void) | undefined): AsyncIterable<Buffer> {
  let current = 0;
  let last = 0;
  for await (const chunk of source) {
    current += chunk.length;
    received?.(chunk.length);
    if (progress) {
      const now = Date.now();
      if (now - last >= 100 || current === total) {
        last = now;
        progress({ layer, status: 'downloading', current, total });
      }
    }
    yield chunk;
  }
}
