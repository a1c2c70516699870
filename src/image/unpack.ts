import { createHash } from 'node:crypto';
import { blobChunks, blobName, type FollowedBlob } from './blob-chunks.js';
import { decompressed, hashing } from './layer-stream.js';
import { LayerError } from './layer-error.js';
import { LayerWriter } from './layer-writer.js';
import { readTar } from './tar-reader.js';

/**
 * Unpacks one image layer into its own directory, ready to be an overlayfs lower dir: OCI
 * whiteouts become overlay ones (`.wh.NAME` → a 0/0 character device, `.wh..wh..opq` →
 * trusted.overlay.opaque=y), and owners, modes (setuid, sticky), mtimes, xattrs, links and
 * device nodes are kept. Nothing is ever written outside `target`: paths are cleaned, every
 * parent is resolved inside the layer as a chroot would (in-root.ts) and held as an fd, and
 * each entry is made in it by name with O_EXCL|O_NOFOLLOW or an *at call that does not
 * follow a symlink (after removing what was there), its owner, mode and times set on the
 * open fd or with AT_SYMLINK_NOFOLLOW. `..`, absolute and chained symlinks and hardlinks
 * pointing out, in this layer or a lower one, all stay in (or are refused).
 */

export interface UnpackRequest {
  /** The layer blob in the content store (with `fd`, the ingest file of one being downloaded). */
  blob: string;
  /** An fd on a blob being downloaded, read as its feed's messages say it grows (blob-feed.ts). */
  fd?: number;
  /** An empty directory to fill. */
  target: string;
  /** Lower layers' directories, nearest first: a hardlink to a file of theirs copies it up. */
  parents: string[];
  /**
   * False when lower layers may still be unpacking (layers are unpacked side by side): a
   * hardlink to a file found nowhere then fails with NEEDS_LOWER_LAYERS, to be tried again
   * once they are done.
   */
  lowerComplete: boolean;
}

export interface UnpackResult {
  /** sha256 of the uncompressed tar: must equal the image config's diff_id. */
  diffId: string;
  /** Bytes of regular file data written. */
  bytes: number;
  /** Entries created. */
  inodes: number;
  /** xattrs the filesystem would not take (ENOTSUP), kept for the log. */
  warnings: string[];
}

export async function unpackLayer(req: UnpackRequest, follow?: FollowedBlob): Promise<UnpackResult> {
  const hash = createHash('sha256');
  const writer = new LayerWriter(req.target, req.parents, req.lowerComplete);
  const source = follow && req.fd !== undefined ? blobChunks(req.fd, follow) : blobChunks(req.blob);
  try {
    for await (const { header, body, data } of readTar(hashing(decompressed(source), hash))) {
      try {
        const pending = writer.entry(header, body, data);
        if (pending) await pending;
      } catch (err) {
        if (err instanceof LayerError) throw err;
        throw new LayerError(`entry "${header.name}": ${(err as Error).message}`);
      }
    }
    writer.finish();
  } catch (err) {
    throw new LayerError(`layer ${blobName(req.blob)}: ${(err as Error).message}`);
  } finally {
    writer.close();
  }
  return { diffId: `sha256:${hash.digest('hex')}`, ...writer.result };
}
