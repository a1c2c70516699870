import type { ImportImagesChunk__Output } from '../generated/coracle/v1/ImportImagesChunk.js';
import type { ImportImagesResponse } from '../generated/coracle/v1/ImportImagesResponse.js';
import type { ImageService } from '../image/image-service.js';
import type { CallContext } from './wrap.js';

export function importImagesHandler(images: Pick<ImageService, 'importArchive'>) {
  return async (chunks: AsyncIterable<ImportImagesChunk__Output>, ctx: CallContext): Promise<ImportImagesResponse> => {
    async function* bytes(): AsyncGenerator<Buffer> {
      for await (const chunk of chunks) yield chunk.data;
    }
    const imported = await images.importArchive(bytes(), ctx.log);
    return { images: imported.map((i) => ({ id: i.id, repo_tags: i.repoTags })) };
  };
}
