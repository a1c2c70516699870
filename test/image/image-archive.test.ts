import assert from 'node:assert/strict';
import { until } from '../helpers/until.js';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readTar } from '../../src/image/tar-reader.js';
import { CORACLE_BIN, startTestDaemon, tempDir, type TestDaemon } from '../helpers/daemon.js';
import { buildImage, buildLayer, busyboxRootfsEntries, pushImage, type BuiltImage } from '../helpers/images.js';
import { startTestRegistry, type TestRegistry } from '../helpers/test-registry.js';
import { layerDirs, snapshotTrees } from '../helpers/snapshot-dirs.js';

const run = promisify(execFile);

/** `coracle images …` against a test daemon; resolves with output, or rejects with it. */
function coracle(d: TestDaemon, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [CORACLE_BIN, ...args, '--socket', d.socket]);
}

async function tarNames(file: string): Promise<string[]> {
  const names: string[] = [];
  for await (const { header } of readTar(createReadStream(file) as AsyncIterable<Buffer>)) names.push(header.name);
  return names;
}

describe('image/image-archive: coracle images import/export', function () {
  this.timeout(60_000);
  let registry: TestRegistry;
  let a: BuiltImage;
  let b: BuiltImage;

  before(async () => {
    registry = await startTestRegistry({ scope: 'suite' });
    const rootfs = await buildLayer(await busyboxRootfsEntries());
    a = buildImage({ layers: [rootfs, await buildLayer([{ type: 'file', path: 'a', content: 'A' }])], config: { Cmd: ['sh'] } });
    b = buildImage({ layers: [rootfs], config: { User: 'app' }, format: 'docker' });
    await pushImage(registry.url, 'arc/a', a, ['v1', 'v2']);
    await pushImage(registry.url, 'arc/b', b, ['v1']);
  });
  after(async () => {
    await registry?.stop();
  });

  it('exports images to one tarball and imports them back after they were removed', async () => {
    const d = await startTestDaemon({ mirrors: { [registry.host]: registry.url } });
    for (const r of ['arc/a:v1', 'arc/a:v2', 'arc/b:v1']) await d.clients.image.PullImage({ image: { image: `${registry.host}/${r}` } });
    const before = (await d.clients.image.ListImages({})).images.sort((x, y) => x.id.localeCompare(y.id));
    const file = join(await tempDir(), 'images.tar');
    await coracle(d, 'images', 'export', `${registry.host}/arc/a:v1`, b.configDigest, '-o', file);
    const names = await tarNames(file);
    for (const n of ['oci-layout', 'index.json', 'manifest.json', `blobs/sha256/${a.manifestDigest.slice(7)}`, `blobs/sha256/${b.configDigest.slice(7)}`]) {
      assert.ok(names.includes(n), `${n} in the archive`);
    }
    for (const image of before) await d.clients.image.RemoveImage({ image: { image: image.id } });
    await until('the snapshot trees to be deleted', async () => (await snapshotTrees(d.root)).length === 0);

    const { stdout } = await coracle(d, 'images', 'import', file);
    assert.match(stdout, new RegExp(`Loaded image: .*${registry.host}/arc/a:v1`));
    const after = (await d.clients.image.ListImages({})).images.sort((x, y) => x.id.localeCompare(y.id));
    assert.deepEqual(after.map((i) => i.id), before.map((i) => i.id));
    assert.deepEqual(after.map((i) => i.repo_tags.sort()), before.map((i) => i.repo_tags.sort()));
    const status = await d.clients.image.ImageStatus({ image: { image: `${registry.host}/arc/b:v1` } });
    assert.equal(status.image?.username, 'app');
    assert.equal((await layerDirs(d.root)).length, 2);
  });

  it('imports a classic docker-save archive', async () => {
    const d = await startTestDaemon();
    const layer = await buildLayer([{ type: 'file', path: 'hello', content: 'saved\n' }], { compression: 'none' });
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/hello'] }, rootfs: { type: 'layers', diff_ids: [layer.diffId] } }));
    const configHex = createHash('sha256').update(config).digest('hex');
    const archive = await buildLayer(
      [
        { type: 'dir', path: 'f00d' },
        { type: 'file', path: 'f00d/layer.tar', content: layer.tar },
        { type: 'file', path: 'f00d/VERSION', content: '1.0' },
        { type: 'file', path: `${configHex}.json`, content: config },
        { type: 'file', path: 'manifest.json', content: JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['busybox:saved', 'example.com/x/y:1'], Layers: ['f00d/layer.tar'] }]) },
        { type: 'file', path: 'repositories', content: '{}' },
      ],
      { compression: 'none' },
    );
    const file = join(await tempDir(), 'saved.tar');
    await writeFile(file, archive.tar);
    await coracle(d, 'images', 'import', file);
    const s = await d.clients.image.ImageStatus({ image: { image: 'busybox:saved' }, verbose: true });
    assert.equal(s.image?.id, `sha256:${configHex}`);
    assert.deepEqual(s.image?.repo_tags.sort(), ['docker.io/library/busybox:saved', 'example.com/x/y:1']);
    const info = JSON.parse(s.info.info!) as { layers: { diffId: string }[] };
    assert.deepEqual(info.layers.map((l) => l.diffId), [layer.diffId]);
  });

  it('refuses what is not an image archive and keeps nothing of it', async () => {
    const d = await startTestDaemon();
    const junk = await buildLayer([{ type: 'file', path: 'blobs/sha256/' + 'ab'.repeat(32), content: 'not that digest' }], { compression: 'none' });
    const file = join(await tempDir(), 'junk.tar');
    await writeFile(file, junk.tar);
    await assert.rejects(coracle(d, 'images', 'import', file), (err: { stderr: string }) => {
      assert.match(err.stderr, /coracle: blob sha256:(ab){32}: downloaded content has digest/);
      return true;
    });
    await writeFile(file, (await buildLayer([{ type: 'file', path: 'x', content: 'y' }], { compression: 'none' })).tar);
    await assert.rejects(coracle(d, 'images', 'import', file), /neither index\.json nor manifest\.json/);
    assert.deepEqual(await readdir(join(d.root, 'image', 'content', 'blobs', 'sha256')), []);
  });

  it('export of an unknown image fails and writes no file; no daemon is a clear error', async () => {
    const d = await startTestDaemon();
    const file = join(await tempDir(), 'none.tar');
    await assert.rejects(coracle(d, 'images', 'export', 'nope:1', '-o', file), /image "nope:1": not found/);
    assert.equal(existsSync(file), false);
    await assert.rejects(
      run(process.execPath, [CORACLE_BIN, 'images', 'export', 'x', '-o', file, '--socket', join(d.dir, 'missing.sock')]),
      /cannot connect to the Coracle daemon at unix:\/\/.*missing\.sock: is it running\?/,
    );
  });
});
