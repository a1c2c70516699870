import * as z from 'zod/mini';
import '../util/zod-messages.js';
import { CoracleError } from '../errors.js';

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
} as const;

/** What we ask registries for, in order of preference. Schema 1 is long dead. */
export const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.dockerManifest].join(', ');

/** containerd's limit: a manifest larger than this is not one. */
export const MAX_MANIFEST_BYTES = 4 << 20;
/**
 * An image config larger than this is refused before it is read into memory: real ones,
 * long histories included, are a few KiB to a few hundred.
 */
export const MAX_CONFIG_BYTES = 8 << 20;

const digest = z.string().check(z.regex(/^sha256:[a-f0-9]{64}$/, 'not a sha256 digest'));

const descriptor = z.object({
  mediaType: z.string(),
  digest,
  size: z.int().check(z.nonnegative()),
  platform: z.optional(z.object({ os: z.string(), architecture: z.string(), variant: z.optional(z.string()) })),
  annotations: z.optional(z.record(z.string(), z.string())),
});
export type Descriptor = z.infer<typeof descriptor>;

const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.optional(z.string()),
  config: descriptor,
  layers: z.array(descriptor),
});
export type ImageManifest = z.infer<typeof manifestSchema>;

const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.optional(z.string()),
  manifests: z.array(descriptor),
});
export type ImageIndex = z.infer<typeof indexSchema>;

const configSchema = z.object({
  architecture: z.optional(z.string()),
  os: z.optional(z.string()),
  created: z.optional(z.string()),
  config: z.nullish(
    z.object({
      User: z.optional(z.string()),
      Env: z.nullish(z.array(z.string())),
      Entrypoint: z.nullish(z.array(z.string())),
      Cmd: z.nullish(z.array(z.string())),
      WorkingDir: z.optional(z.string()),
      ExposedPorts: z.nullish(z.record(z.string(), z.unknown())),
      Volumes: z.nullish(z.record(z.string(), z.unknown())),
      Labels: z.nullish(z.record(z.string(), z.string())),
      StopSignal: z.optional(z.string()),
    }),
  ),
  rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(digest) }),
  history: z.optional(
    z.array(
      z.object({
        created: z.optional(z.string()),
        created_by: z.optional(z.string()),
        comment: z.optional(z.string()),
        empty_layer: z.optional(z.boolean()),
      }),
    ),
  ),
});
export type ImageConfigDoc = z.infer<typeof configSchema>;

function parseJson(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new CoracleError('FAILED_PRECONDITION', `${what}: not JSON: ${(err as Error).message}`);
  }
}

function check<T>(schema: z.ZodMiniType<T>, doc: unknown, what: string): T {
  const r = schema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new CoracleError('FAILED_PRECONDITION', `${what}: ${issue.path.join('.') || '(document)'}: ${issue.message}`);
  }
  return r.data;
}

export type ManifestDoc = { kind: 'index'; index: ImageIndex } | { kind: 'manifest'; manifest: ImageManifest };

/** Tells an index from a manifest by its media type, from the document or the response. */
export function parseManifestDoc(body: Buffer, contentType: string | undefined, what: string): ManifestDoc {
  const doc = parseJson(body, what) as { mediaType?: unknown; manifests?: unknown };
  const type = typeof doc.mediaType === 'string' ? doc.mediaType : (contentType ?? '').split(';')[0]!.trim();
  if (type === MEDIA.ociIndex || type === MEDIA.dockerList || (type === '' && Array.isArray(doc.manifests))) {
    return { kind: 'index', index: check(indexSchema, doc, what) };
  }
  if (type === MEDIA.ociManifest || type === MEDIA.dockerManifest || type === '') {
    return { kind: 'manifest', manifest: check(manifestSchema, doc, what) };
  }
  throw new CoracleError('FAILED_PRECONDITION', `${what}: unsupported manifest type "${type}"`);
}

export function parseImageConfig(body: Buffer, what: string): ImageConfigDoc {
  return check(configSchema, parseJson(body, what), what);
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** This host's platform in OCI terms. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const architecture = arch[process.arch] ?? process.arch;
  return architecture === 'arm64' ? { os: 'linux', architecture, variant: 'v8' } : { os: 'linux', architecture };
}

/** The index entry for `platform`; an arm64 variant is optional, as containerd treats it. */
export function selectPlatform(index: ImageIndex, platform: Platform, what: string): Descriptor {
  const candidates = index.manifests.filter(
    (m) =>
      (m.mediaType === MEDIA.ociManifest || m.mediaType === MEDIA.dockerManifest) &&
      m.platform?.os === platform.os &&
      m.platform.architecture === platform.architecture,
  );
  const exact = candidates.find((m) => (m.platform?.variant ?? '') === (platform.variant ?? ''));
  const chosen = exact ?? candidates.find((m) => m.platform?.variant === undefined) ?? candidates[0];
  if (!chosen) {
    const have = index.manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}${m.platform.variant ? `/${m.platform.variant}` : ''}` : '?'));
    throw new CoracleError(
      'NOT_FOUND',
      `${what}: no manifest for ${platform.os}/${platform.architecture} (the index has ${have.join(', ') || 'none'})`,
    );
  }
  return chosen;
}
