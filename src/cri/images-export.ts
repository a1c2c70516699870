import type { ExportImagesChunk } from '../generated/coracle/v1/ExportImagesChunk.js';
import type { ExportImagesRequest__Output } from '../generated/coracle/v1/ExportImagesRequest.js';
import type { ImageService } from '../image/image-service.js';

/** Chunks of at most 1 MiB: well under the 16 MiB message limit. */
const CHUNK = 1 << 20;

export function exportImagesHandler(images: Pick<ImageService, 'exportArchive'>) {
  return async (request: ExportImagesRequest__Output, write: (m: ExportImagesChunk) => Promise<void>): Promise<void> => {
    for await (const buf of images.exportArchive(request.images)) {
      for (let off = 0; off < buf.length; off += CHUNK) await write({ data: buf.subarray(off, off + CHUNK) });
    }
  };
}
