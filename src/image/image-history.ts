import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { CoracleError, notFound } from '../errors.js';
import type { Logger } from '../log.js';
import type { ImageContext } from './image-deps.js';
import { findImage } from './image-find.js';
import { withLease } from './image-gc.js';
import { makeImage } from './image-make.js';
import type { ImageLayer, ImageRecord } from './image-store.js';
import { MEDIA, parseImageConfig, parseManifestDoc, type ImageConfigDoc } from './manifest.js';
import { parseReference, repoTag } from './reference.js';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

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

/**
 * A new image: `base` with one more layer on top, from `layer` (an uncompressed tar in
 * OCI layer form), a history step for it, tagged `tag` when given (docker commit). The
 * layer is stored gzipped, its config and an OCI manifest beside it, then it is made an
 * image the way a pull makes one (unpacked into its snapshot, the record written).
 */
export async function commitLayer(
  cx: ImageContext,
  baseText: string,
  layer: AsyncIterable<Buffer>,
  o: { tag?: string; createdBy: string; comment: string; author: string },
  log: Logger,
): Promise<ImageRecord> {
  const base = findImage(cx.deps.store, baseText);
  if (!base) throw notFound(`image ${baseText}: not found`);
  const tag = o.tag ? repoTag(parseReference(o.tag)) : undefined;
  if (o.tag && !tag) throw new CoracleError('INVALID_ARGUMENT', `${o.tag}: a commit is named by repository[:tag], not by digest`);
  const { content } = cx.deps;
  return withLease(cx, log, async (lease) => {
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
    return makeImage(
      cx,
      { name: `commit of ${base.id}`, manifest: parsed.manifest, manifestDigest, manifestMediaType: MEDIA.ociManifest },
      { repoTags: tag ? [tag] : [], repoDigests: [], content: [] },
      present,
      lease,
      log,
    );
  });
}

/**
 * The steps of `history` (oldest first) each with the layer it made: a step that is not an
 * empty layer takes the next layer in order (docker's rule); steps past the last layer take
 * none, and layers the history does not tell of (a config without history) get a step each.
 */
export function matchLayers<L>(history: NonNullable<ImageConfigDoc['history']>, layers: readonly L[]): { step: Omit<HistoryStep, 'id' | 'size'>; layer: L | undefined }[] {
  const out: { step: Omit<HistoryStep, 'id' | 'size'>; layer: L | undefined }[] = [];
  let next = 0;
  for (const h of history) {
    const layer = h.empty_layer ? undefined : layers[next++];
    out.push({ step: { created: h.created ?? '', createdBy: h.created_by ?? '', comment: h.comment ?? '', emptyLayer: h.empty_layer === true }, layer });
  }
  for (; next < layers.length; next++) out.push({ step: { created: '', createdBy: '', comment: '', emptyLayer: false }, layer: layers[next] });
  return out;
}

/**
 * How the image was made, newest first: its config's history steps, each step that made
 * a layer matched with the next layer in order (docker's rule), sized as unpacked.
 */
export async function history(cx: ImageContext, text: string): Promise<HistoryStep[]> {
  const image = findImage(cx.deps.store, text);
  if (!image) throw notFound(`image ${text}: not found`);
  const config = parseImageConfig(await cx.deps.content.read(image.id), `image ${image.id}: config`);
  const sizeOf = async (layer: ImageLayer | undefined): Promise<number> => {
    if (!layer) return 0;
    const info = await cx.deps.snapshots.stat(layer.chainId);
    return info?.kind === 'committed' ? info.bytes : layer.size;
  };
  const steps: HistoryStep[] = [];
  for (const { step, layer } of matchLayers(config.history ?? [], image.layers)) steps.push({ ...step, size: await sizeOf(layer) });
  return steps.reverse().map((s, i) => ({ ...s, id: i === 0 ? image.id : '<missing>' }));
}
