import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CoracleError, isErrno } from '../errors.js';
import type { Logger } from '../log.js';
import { writeFileDurable } from '../util/atomic-write.js';
import { digestHex } from './digest.js';

/** The parts of an image config a runtime acts on. */
export interface ImageConfigSummary {
  user: string;
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  exposedPorts: string[];
  volumes: string[];
  labels: Record<string, string>;
  stopSignal: string;
}

export interface ImageLayer {
  /** The blob, as the manifest names it. */
  digest: string;
  mediaType: string;
  size: number;
  diffId: string;
  chainId: string;
}

/** An image as Coracle keeps it: id is the config digest, as containerd and CRI-O use. */
export interface ImageRecord {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** The platform manifest the layers come from. */
  manifestDigest: string;
  manifestMediaType: string;
  /** Every blob of the image: indexes, manifest, config, layers. Kept from collection. */
  content: string[];
  /** Bytes of the config and the compressed layers, as containerd reports an image's size. */
  size: number;
  layers: ImageLayer[];
  config: ImageConfigSummary;
  created?: string;
  /** RFC 3339, when this record was first written. */
  pulledAt: string;
}

/**
 * Image metadata, one file per image written atomically, indexed in memory. Tags and repo
 * digests are unique across images: giving one to an image takes it from any other.
 */
export class ImageStore {
  private readonly images = new Map<string, ImageRecord>();

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) {
      if (!/^[a-f0-9]{64}\.json$/.test(name)) continue;
      try {
        const record = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as ImageRecord;
        this.images.set(record.id, record);
      } catch (err) {
        this.log.error('image record unreadable: skipped', { file: name, error: (err as Error).message });
      }
    }
  }

  private file(id: string): string {
    return join(this.dir, `${digestHex(id, 'image id')}.json`);
  }

  all(): ImageRecord[] {
    return [...this.images.values()];
  }

  get(id: string): ImageRecord | undefined {
    return this.images.get(id);
  }

  byTag(repoTag: string): ImageRecord | undefined {
    return this.all().find((i) => i.repoTags.includes(repoTag));
  }

  byDigest(repoDigest: string): ImageRecord | undefined {
    return this.all().find((i) => i.repoDigests.includes(repoDigest));
  }

  /** The one image whose id starts with `hex`; an ambiguous prefix is an error. */
  byIdPrefix(hex: string): ImageRecord | undefined {
    const matches = this.all().filter((i) => i.id.slice(7).startsWith(hex));
    if (matches.length > 1) {
      throw new CoracleError('INVALID_ARGUMENT', `image id prefix ${hex}: matches ${matches.length} images`);
    }
    return matches[0];
  }

  /**
   * Adds or updates `record`, merging names into an existing record of the same id, and
   * takes its tags and digests from any other image. Returns the stored record.
   */
  async put(record: ImageRecord): Promise<ImageRecord> {
    const prev = this.images.get(record.id);
    const merged: ImageRecord = prev
      ? {
          ...record,
          pulledAt: prev.pulledAt,
          repoTags: union(prev.repoTags, record.repoTags),
          repoDigests: union(prev.repoDigests, record.repoDigests),
          content: union(prev.content, record.content),
        }
      : record;
    for (const other of this.all()) {
      if (other.id === record.id) continue;
      const repoTags = other.repoTags.filter((t) => !merged.repoTags.includes(t));
      const repoDigests = other.repoDigests.filter((d) => !merged.repoDigests.includes(d));
      if (repoTags.length !== other.repoTags.length || repoDigests.length !== other.repoDigests.length) {
        await this.write({ ...other, repoTags, repoDigests });
      }
    }
    await this.write(merged);
    return merged;
  }

  /** Gives the image exactly these names (put only ever adds): docker rmi of one tag. */
  async setNames(id: string, repoTags: string[], repoDigests: string[]): Promise<void> {
    const record = this.images.get(id);
    if (record) await this.write({ ...record, repoTags, repoDigests });
  }

  private async write(record: ImageRecord): Promise<void> {
    // Durable: a pulled image must still be there after a power loss (no lost image), and
    // the record goes after its blobs (fsynced by the content store) and snapshots (their
    // info.json fsynced), so a record on disk never names content that is not.
    await writeFileDurable(this.file(record.id), JSON.stringify(record) + '\n');
    this.images.set(record.id, record);
  }

  async remove(id: string): Promise<void> {
    try {
      await rm(this.file(id));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    this.images.delete(id);
  }
}

function union(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])];
}
