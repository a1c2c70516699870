import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';

/**
 * Test images built in memory and pushed over the distribution API. Tars are written here
 * byte by byte (ustar + pax) so that a test can put in exactly what it wants: binary xattrs,
 * hostile paths, devices, whiteouts.
 */
export type LayerEntry =
  | { type: 'file'; path: string; content: string | Buffer; mode?: number; uid?: number; gid?: number; mtime?: Date; xattrs?: Record<string, string | Buffer> }
  | { type: 'dir'; path: string; mode?: number; uid?: number; gid?: number; mtime?: Date; xattrs?: Record<string, string | Buffer> }
  | { type: 'symlink'; path: string; target: string; xattrs?: Record<string, string | Buffer> }
  | { type: 'hardlink'; path: string; target: string }
  | { type: 'fifo'; path: string }
  | { type: 'char' | 'block'; path: string; major: number; minor: number }
  | { type: 'whiteout'; path: string }
  | { type: 'opaque'; path: string };

export interface BuiltLayer {
  tar: Buffer;
  blob: Buffer;
  digest: string;
  diffId: string;
  size: number;
  mediaType: string;
}

export interface ImageConfigSpec {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

export interface BuiltImage {
  format: 'oci' | 'docker';
  manifest: Buffer;
  manifestDigest: string;
  manifestMediaType: string;
  config: Buffer;
  configDigest: string;
  layers: BuiltLayer[];
}

export interface BuiltIndex {
  index: Buffer;
  digest: string;
  mediaType: string;
  children: BuiltImage[];
}

export type PushAuth = { username: string; password: string } | { bearer: string };

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const EPOCH = new Date('2024-01-01T00:00:00Z');

const TYPES = {
  oci: {
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
    layerTar: 'application/vnd.oci.image.layer.v1.tar',
    layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
    layerZstdNondist: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
    index: 'application/vnd.oci.image.index.v1+json',
  },
  docker: {
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
    layerTar: 'application/vnd.docker.image.rootfs.diff.tar',
    // Docker has no zstd type of its own: its images use OCI's.
    layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
    layerZstdNondist: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
  },
} as const;

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

interface RawHeader {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

function header(h: RawHeader): Buffer {
  const b = Buffer.alloc(512);
  b.write(h.name.slice(0, 100), 0, 'utf8');
  b.write(octal(h.mode, 8), 100, 'ascii');
  b.write(octal(h.uid, 8), 108, 'ascii');
  b.write(octal(h.gid, 8), 116, 'ascii');
  b.write(octal(h.size, 12), 124, 'ascii');
  b.write(octal(h.mtime, 12), 136, 'ascii');
  b.write('        ', 148, 'ascii');
  b.write(h.type, 156, 'ascii');
  if (h.linkname) b.write(h.linkname.slice(0, 100), 157, 'utf8');
  b.write('ustar\0', 257, 'ascii');
  b.write('00', 263, 'ascii');
  b.write(octal(h.devmajor ?? 0, 8), 329, 'ascii');
  b.write(octal(h.devminor ?? 0, 8), 337, 'ascii');
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(octal(sum, 7) + ' ', 148, 'ascii');
  return b;
}

const pad = (n: number): Buffer => Buffer.alloc((512 - (n % 512)) % 512);

/** A pax record: "<len> key=value\n" where len counts itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len++;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function entryToTar(e: LayerEntry): Buffer[] {
  const out: Buffer[] = [];
  const mtime = Math.floor((('mtime' in e && e.mtime) || EPOCH).getTime() / 1000);
  let name = e.path;
  let type: string;
  let mode = 0o644;
  let data: Buffer = Buffer.alloc(0);
  let linkname: string | undefined;
  let dev: [number, number] | undefined;
  const pax: [string, Buffer][] = [];
  switch (e.type) {
    case 'file':
      type = '0';
      data = Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content);
      mode = e.mode ?? 0o644;
      for (const [k, v] of Object.entries(e.xattrs ?? {})) pax.push([`SCHILY.xattr.${k}`, Buffer.isBuffer(v) ? v : Buffer.from(v)]);
      break;
    case 'dir':
      type = '5';
      mode = e.mode ?? 0o755;
      name = name.endsWith('/') ? name : `${name}/`;
      for (const [k, v] of Object.entries(e.xattrs ?? {})) pax.push([`SCHILY.xattr.${k}`, Buffer.isBuffer(v) ? v : Buffer.from(v)]);
      break;
    case 'symlink':
      type = '2';
      mode = 0o777;
      linkname = e.target;
      for (const [k, v] of Object.entries(e.xattrs ?? {})) pax.push([`SCHILY.xattr.${k}`, Buffer.isBuffer(v) ? v : Buffer.from(v)]);
      break;
    case 'hardlink':
      type = '1';
      linkname = e.target;
      break;
    case 'fifo':
      type = '6';
      break;
    case 'char':
    case 'block':
      type = e.type === 'char' ? '3' : '4';
      mode = 0o666;
      dev = [e.major, e.minor];
      break;
    case 'whiteout': {
      const slash = e.path.lastIndexOf('/');
      name = slash < 0 ? `.wh.${e.path}` : `${e.path.slice(0, slash)}/.wh.${e.path.slice(slash + 1)}`;
      type = '0';
      break;
    }
    case 'opaque':
      name = `${e.path.replace(/\/$/, '')}/.wh..wh..opq`;
      type = '0';
      break;
  }
  if (Buffer.byteLength(name) > 100) pax.push(['path', Buffer.from(name)]);
  if (linkname && Buffer.byteLength(linkname) > 100) pax.push(['linkpath', Buffer.from(linkname)]);
  if (pax.length > 0) {
    const records = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)));
    out.push(header({ name: 'PaxHeader', type: 'x', mode: 0o644, uid: 0, gid: 0, size: records.length, mtime }), records, pad(records.length));
  }
  const uid = 'uid' in e ? (e.uid ?? 0) : 0;
  const gid = 'gid' in e ? (e.gid ?? 0) : 0;
  out.push(
    header({ name, type, mode, uid, gid, size: data.length, mtime, ...(linkname ? { linkname } : {}), ...(dev ? { devmajor: dev[0], devminor: dev[1] } : {}) }),
    data,
    pad(data.length),
  );
  return out;
}

/** How a layer's tar is stored: `zstd-nondist` is zstd under the nondistributable media type. */
export type LayerCompression = 'gzip' | 'zstd' | 'zstd-nondist' | 'none';

export async function buildLayer(
  entries: LayerEntry[],
  opts: { format?: 'oci' | 'docker'; compression?: LayerCompression; zstdLevel?: number } = {},
): Promise<BuiltLayer> {
  const tar = Buffer.concat([...entries.flatMap(entryToTar), Buffer.alloc(1024)]);
  const compression = opts.compression ?? 'gzip';
  const types = TYPES[opts.format ?? 'oci'];
  const [blob, mediaType] =
    compression === 'gzip'
      ? [gzipSync(tar, { level: 6 }), types.layerGzip]
      : compression === 'none'
        ? [tar, types.layerTar]
        : [zstdCompress(tar, { compressionLevel: opts.zstdLevel ?? 3, checksumFlag: true }), compression === 'zstd' ? types.layerZstd : types.layerZstdNondist];
  return { tar, blob, digest: sha(blob), diffId: sha(tar), size: blob.length, mediaType };
}

export function buildImage(spec: {
  layers: BuiltLayer[];
  config?: ImageConfigSpec;
  format?: 'oci' | 'docker';
  architecture?: string;
  os?: string;
  history?: { created_by: string; empty_layer?: boolean }[];
}): BuiltImage {
  const format = spec.format ?? 'oci';
  const types = TYPES[format];
  const config = Buffer.from(
    JSON.stringify({
      architecture: spec.architecture ?? 'amd64',
      os: spec.os ?? 'linux',
      created: EPOCH.toISOString(),
      config: spec.config ?? {},
      rootfs: { type: 'layers', diff_ids: spec.layers.map((l) => l.diffId) },
      history: spec.history ?? spec.layers.map((_, i) => ({ created: EPOCH.toISOString(), created_by: `coracle test layer ${i}` })),
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: types.manifest,
      config: { mediaType: types.config, digest: sha(config), size: config.length },
      layers: spec.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    }),
  );
  return { format, manifest, manifestDigest: sha(manifest), manifestMediaType: types.manifest, config, configDigest: sha(config), layers: spec.layers };
}

export function buildIndex(
  children: { image: BuiltImage; platform: { os: string; architecture: string; variant?: string } }[],
  format: 'oci' | 'docker' = 'oci',
): BuiltIndex {
  const mediaType = TYPES[format].index;
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: children.map((c) => ({ mediaType: c.image.manifestMediaType, digest: c.image.manifestDigest, size: c.image.manifest.length, platform: c.platform })),
    }),
  );
  return { index, digest: sha(index), mediaType, children: children.map((c) => c.image) };
}

function authHeaders(auth?: PushAuth): Record<string, string> {
  if (!auth) return {};
  if ('bearer' in auth) return { authorization: `Bearer ${auth.bearer}` };
  return { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` };
}

async function putBlob(url: string, repo: string, blob: Buffer, digest: string, auth?: PushAuth): Promise<void> {
  const head = await fetch(`${url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD', headers: authHeaders(auth) });
  if (head.status === 200) return;
  const start = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: authHeaders(auth) });
  if (start.status !== 202) throw new Error(`push ${repo}: upload start: HTTP ${start.status}`);
  const location = new URL(start.headers.get('location')!, url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { ...authHeaders(auth), 'content-type': 'application/octet-stream' },
    body: blob,
  });
  if (put.status !== 201) throw new Error(`push ${repo}: blob ${digest}: HTTP ${put.status}: ${await put.text()}`);
}

async function putManifest(url: string, repo: string, reference: string, body: Buffer, mediaType: string, auth?: PushAuth): Promise<void> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { ...authHeaders(auth), 'content-type': mediaType },
    body,
  });
  if (res.status !== 201) throw new Error(`push ${repo}:${reference}: HTTP ${res.status}: ${await res.text()}`);
}

export async function pushImage(url: string, repo: string, image: BuiltImage, tags: string[], auth?: PushAuth): Promise<void> {
  for (const l of image.layers) await putBlob(url, repo, l.blob, l.digest, auth);
  await putBlob(url, repo, image.config, image.configDigest, auth);
  await putManifest(url, repo, image.manifestDigest, image.manifest, image.manifestMediaType, auth);
  for (const tag of tags) await putManifest(url, repo, tag, image.manifest, image.manifestMediaType, auth);
}

export async function pushIndex(url: string, repo: string, index: BuiltIndex, tags: string[], auth?: PushAuth): Promise<void> {
  for (const child of index.children) await pushImage(url, repo, child, [], auth);
  await putManifest(url, repo, index.digest, index.index, index.mediaType, auth);
  for (const tag of tags) await putManifest(url, repo, tag, index.index, index.mediaType, auth);
}

let busybox: Buffer | undefined;

/** A small rootfs around the host's static busybox, with users and groups to test with. */
export async function busyboxRootfsEntries(): Promise<LayerEntry[]> {
  busybox ??= await readFile('/bin/busybox');
  const applets = ['sh', 'ls', 'cat', 'echo', 'id', 'sleep', 'true', 'false', 'env', 'ps', 'stat', 'test', 'touch', 'grep', 'head', 'wc', 'httpd'];
  return [
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/busybox', content: busybox, mode: 0o755 },
    ...applets.map((a): LayerEntry => ({ type: 'hardlink', path: `bin/${a}`, target: 'bin/busybox' })),
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' },
    { type: 'file', path: 'etc/group', content: 'root:x:0:\napp:x:1000:\nextra:x:2000:app\nnogroup:x:65534:\n' },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'root', mode: 0o700 },
    { type: 'dir', path: 'home' },
    { type: 'dir', path: 'home/app', uid: 1000, gid: 1000 },
    { type: 'dir', path: 'dev' },
    { type: 'dir', path: 'proc' },
    { type: 'dir', path: 'sys' },
  ];
}
