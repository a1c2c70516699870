import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { until } from '../helpers/until.js';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { codeOf } from '../helpers/cri-client.js';
import { CORACLE_BIN, startTestDaemon, tempDir, type TestDaemon } from '../helpers/daemon.js';
import { buildImage, buildLayer, busyboxRootfsEntries, pushImage, type BuiltImage, type BuiltLayer, type LayerEntry } from '../helpers/images.js';
import { podConfig, startContainer } from '../helpers/pods.js';
import { startTestRegistry, type TestRegistry } from '../helpers/test-registry.js';
import { layerDirs, snapshotTrees } from '../helpers/snapshot-dirs.js';

const run = promisify(execFile);
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Lines that zstd and gzip both find matches in, so that a flipped byte breaks the stream. */
const TEXT = Array.from({ length: 30_000 }, (_, i) => `${i % 89} pulled layer ${'z'.repeat(i % 11)} unpacked\n`).join('');

/** `layer` with bytes in its middle flipped: the manifest names the damaged blob's digest. */
function damaged(layer: BuiltLayer): BuiltLayer {
  const blob = Buffer.from(layer.blob);
  for (let i = 0; i < 16; i++) blob[Math.floor(blob.length / 3) + i * 7] ^= 0x5a;
  return { ...layer, blob, digest: sha(blob), size: blob.length };
}

/** `layer` cut short, named by its own digest. */
function truncated(layer: BuiltLayer): BuiltLayer {
  const blob = layer.blob.subarray(0, Math.floor(layer.blob.length / 2));
  return { ...layer, blob, digest: sha(blob), size: blob.length };
}

async function assertNothingLeft(d: TestDaemon): Promise<void> {
  assert.deepEqual(await readdir(join(d.root, 'image', 'content', 'blobs', 'sha256')), []);
  assert.deepEqual(await readdir(join(d.root, 'image', 'content', 'ingest')), []);
  // Snapshot trees are renamed away when collected and deleted after the call.
  await until('the snapshot trees to be deleted', async () => (await snapshotTrees(d.root)).length === 0);
  assert.equal((await d.clients.image.ListImages({})).images.length, 0);
}

describe('image/image-service: zstd-compressed images', function () {
  this.timeout(90_000);
  let registry: TestRegistry;
  let image: BuiltImage;
  const data: LayerEntry[] = [
    { type: 'dir', path: 'data' },
    { type: 'file', path: 'data/hello', content: 'hello from a zstd layer\n' },
    { type: 'file', path: 'data/text', content: TEXT },
  ];

  before(async () => {
    registry = await startTestRegistry({ scope: 'suite' });
    // zstd under both media types, and a gzip layer on top: images mix them.
    image = buildImage({
      layers: [
        await buildLayer(await busyboxRootfsEntries(), { compression: 'zstd', zstdLevel: 3 }),
        await buildLayer(data, { compression: 'zstd-nondist', zstdLevel: 19 }),
        await buildLayer([{ type: 'file', path: 'data/top', content: 'gzip on top\n' }]),
      ],
      config: { Env: ['PATH=/bin'], Cmd: ['sh'] },
    });
    await pushImage(registry.url, 'zstd/busybox', image, ['v1']);
  });
  after(async () => {
    await registry?.stop();
  });

  it('pulls an image of zstd layers over CRI and runs a container that reads a file it holds', async () => {
    const d = await startTestDaemon({ network: true, mirrors: { [registry.host]: registry.url } });
    const ref = `${registry.host}/zstd/busybox:v1`;
    const res = await d.clients.image.PullImage({ image: { image: ref } });
    assert.equal(res.image_ref, image.configDigest);
    const status = await d.clients.image.ImageStatus({ image: { image: ref }, verbose: true });
    const info = JSON.parse(status.info.info!) as { layers: { diffId: string; mediaType: string }[] };
    assert.deepEqual(info.layers.map((l) => l.diffId), image.layers.map((l) => l.diffId));
    assert.deepEqual(info.layers.map((l) => l.mediaType), image.layers.map((l) => l.mediaType));
    assert.equal((await layerDirs(d.root)).length, 3);

    const config = podConfig('zstdpod');
    const { pod_sandbox_id: podId } = await d.clients.runtime.RunPodSandbox({ config });
    const id = await startContainer(d.clients.runtime, { id: podId, config }, ref, 'reader', ['sleep', '600']);
    const r = await d.clients.runtime.ExecSync({ container_id: id, cmd: ['sh', '-c', 'cat /data/hello /data/top; wc -c < /data/text'], timeout: 10 });
    assert.equal(r.exit_code, 0, r.stderr.toString());
    assert.equal(r.stdout.toString(), `hello from a zstd layer\ngzip on top\n${Buffer.byteLength(TEXT)}\n`);
  });

  it('a corrupt zstd layer fails the pull with the code a corrupt gzip one gets, and leaves nothing', async () => {
    const rootfs = await buildLayer(await busyboxRootfsEntries(), { compression: 'zstd' });
    const badZstd = buildImage({ layers: [rootfs, damaged(await buildLayer(data, { compression: 'zstd' }))] });
    const badGzip = buildImage({ layers: [rootfs, damaged(await buildLayer(data))] });
    await pushImage(registry.url, 'zstd/corrupt', badZstd, ['v1']);
    await pushImage(registry.url, 'gzip/corrupt', badGzip, ['v1']);
    const d = await startTestDaemon({ mirrors: { [registry.host]: registry.url } });

    const gz = await codeOf(d.clients.image.PullImage({ image: { image: `${registry.host}/gzip/corrupt:v1` } }));
    await assertNothingLeft(d);
    const zs = await codeOf(d.clients.image.PullImage({ image: { image: `${registry.host}/zstd/corrupt:v1` } }));
    await assertNothingLeft(d);
    assert.equal(gz.code, grpc.status.FAILED_PRECONDITION, gz.details);
    assert.equal(zs.code, gz.code, zs.details);
    const layer = badZstd.layers[1]!.digest;
    assert.match(zs.details, new RegExp(`layer ${layer}: (entry "[^"]+": )?zstd: \\S`));
  });

  it('a truncated zstd layer fails the pull as one, and leaves nothing', async () => {
    const cut = buildImage({ layers: [truncated(await buildLayer(data, { compression: 'zstd' }))] });
    await pushImage(registry.url, 'zstd/truncated', cut, ['v1']);
    const d = await startTestDaemon({ mirrors: { [registry.host]: registry.url } });
    const err = await codeOf(d.clients.image.PullImage({ image: { image: `${registry.host}/zstd/truncated:v1` } }));
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION, err.details);
    assert.match(err.details, new RegExp(`layer ${cut.layers[0]!.digest}: (entry "[^"]+": )?zstd: unexpected end of data: the stream ends inside a frame`));
    await assertNothingLeft(d);
  });

  it('imports zstd layers from a docker-save archive and from an OCI archive of its own', async () => {
    const d = await startTestDaemon({ mirrors: { [registry.host]: registry.url } });
    const coracle = (...args: string[]): Promise<unknown> => run(process.execPath, [CORACLE_BIN, ...args, '--socket', d.socket]);

    // docker save: a layer.tar that is zstd inside, whatever its name says.
    const layer = await buildLayer(data, { compression: 'zstd' });
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [layer.diffId] } }));
    const configHex = sha(config).slice(7);
    const saved = await buildLayer(
      [
        { type: 'dir', path: 'l1' },
        { type: 'file', path: 'l1/layer.tar', content: layer.blob },
        { type: 'file', path: `${configHex}.json`, content: config },
        { type: 'file', path: 'manifest.json', content: JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['zstd:saved'], Layers: ['l1/layer.tar'] }]) },
      ],
      { compression: 'none' },
    );
    const dir = await tempDir();
    await writeFile(join(dir, 'saved.tar'), saved.tar);
    await coracle('images', 'import', join(dir, 'saved.tar'));
    const s = await d.clients.image.ImageStatus({ image: { image: 'zstd:saved' }, verbose: true });
    assert.equal(s.image?.id, `sha256:${configHex}`);
    assert.deepEqual((JSON.parse(s.info.info!) as { layers: { diffId: string }[] }).layers.map((l) => l.diffId), [layer.diffId]);

    // OCI layout: the pulled image exported (its blobs as pulled: zstd), removed, imported.
    const ref = `${registry.host}/zstd/busybox:v1`;
    await d.clients.image.PullImage({ image: { image: ref } });
    await coracle('images', 'export', ref, '-o', join(dir, 'oci.tar'));
    await d.clients.image.RemoveImage({ image: { image: ref } });
    assert.equal((await d.clients.image.ImageStatus({ image: { image: ref } })).image, null);
    await coracle('images', 'import', join(dir, 'oci.tar'));
    const back = await d.clients.image.ImageStatus({ image: { image: ref } });
    assert.equal(back.image?.id, image.configDigest);
    // The saved image's layer and the pulled image's three.
    assert.equal((await layerDirs(d.root)).length, 4);
  });
});
