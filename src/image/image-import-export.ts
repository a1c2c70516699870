import { CoracleError } from '../errors.js';
import type { Logger } from '../log.js';
import { readArchive, writeArchive } from './image-archive.js';
import type { ImageContext } from './image-deps.js';
import { findImage } from './image-find.js';
import { withLease } from './image-gc.js';
import { makeImage } from './image-make.js';
import type { ImageRecord } from './image-store.js';

/** Loads the images of an archive (docker-save or OCI layout) streamed from `source`. */
export async function importArchive(cx: ImageContext, source: AsyncIterable<Buffer>, log: Logger): Promise<ImageRecord[]> {
  const { content } = cx.deps;
  return withLease(cx, log, async (lease) => {
    const found = await readArchive(source, content, (d) => lease.digests.add(d));
    const out: ImageRecord[] = [];
    for (const image of found) {
      const fetch = async (digest: string): Promise<void> => {
        if ((await content.size(digest)) === undefined) {
          throw new CoracleError('INVALID_ARGUMENT', `archive: blob ${digest} is named but not included`);
        }
      };
      out.push(
        await makeImage(
          cx,
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
export function exportArchive(cx: ImageContext, texts: string[]): AsyncIterable<Buffer> {
  if (texts.length === 0) throw new CoracleError('INVALID_ARGUMENT', 'export: no image named');
  const images = texts.map((t) => {
    const image = findImage(cx.deps.store, t);
    if (!image) throw new CoracleError('NOT_FOUND', `image "${t}": not found`);
    return image;
  });
  return writeArchive([...new Map(images.map((i) => [i.id, i])).values()], cx.deps.content);
}
