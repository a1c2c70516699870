import type { ImageFsInfoRequest__Output } from '../generated/runtime/v1/ImageFsInfoRequest.js';
import type { ImageFsInfoResponse } from '../generated/runtime/v1/ImageFsInfoResponse.js';
import type { ImageService } from '../image/image-service.js';
import { toNanos } from './time.js';
import type { UnaryHandler } from './wrap.js';

export function imageFsInfoHandler(images: Pick<ImageService, 'usage'>): UnaryHandler<ImageFsInfoRequest__Output, ImageFsInfoResponse> {
  return async () => {
    const u = await images.usage();
    const fs = {
      timestamp: toNanos(Date.now()),
      fs_id: { mountpoint: u.mountpoint },
      used_bytes: { value: String(u.usedBytes) },
      inodes_used: { value: String(u.inodesUsed) },
    };
    // Containers' writable layers live on the same filesystem, as with containerd's default.
    return { image_filesystems: [fs], container_filesystems: [fs] };
  };
}
