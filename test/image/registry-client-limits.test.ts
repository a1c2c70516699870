import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { codeOf } from '../helpers/cri-client.js';
import { CORACLE_BIN, startTestDaemon, tempDir } from '../helpers/daemon.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { buildImage, buildLayer, pushImage } from '../helpers/images.js';
import { startTestRegistry } from '../helpers/test-registry.js';
import { startTokenServer } from '../helpers/token-server.js';

describe('image/registry-client: limits: what a registry sends is capped before it is held', function () {
  this.timeout(60_000);

  it('a token server that replies with 2 MiB is refused, naming the realm; the daemon serves on', async () => {
    const tokens = await startTokenServer({ bob: 'hunter2' }, { replyBytes: (2 << 20) + 1 });
    const registry = await startTestRegistry({ token: tokens });
    const image = buildImage({ layers: [await buildLayer([{ type: 'file', path: 't', content: 'token' }])] });
    await pushImage(registry.url, 'tok/img', image, ['v1'], { bearer: tokens.issue('bob', 'repository:tok/img:pull,push') });
    tokens.front(registry.url);
    const d = await startTestDaemon({ mirrors: { [tokens.host]: tokens.url } });
    const err = await codeOf(d.clients.image.PullImage({ image: { image: `${tokens.host}/tok/img:v1` }, auth: { username: 'bob', password: 'hunter2' } }));
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION, err.details);
    assert.match(err.details, new RegExp(`token server ${tokens.realm.replace(/\./g, '\\.')}: reply: larger than 1048576 bytes`));
    // It was asked properly (the credentials go to a realm on the registry's own host:port).
    assert.ok(tokens.seen.some((r) => r.authorization === `Basic ${Buffer.from('bob:hunter2').toString('base64')}`));
    assert.match((await d.clients.runtime.Version({})).runtime_name, /coracle/);
  });

  it('an image config over 8 MiB is refused before it is downloaded, naming its digest', async () => {
    const registry = await startTestRegistry();
    const layer = await buildLayer([{ type: 'file', path: 'f', content: 'x' }]);
    const image = buildImage({ layers: [layer], config: { Labels: { pad: 'x'.repeat(9 << 20) } } });
    assert.ok(image.config.length > 9 << 20);
    await pushImage(registry.url, 'big/config', image, ['v1']);
    const proxy = await startFaultProxy(registry.url, { kind: 'none' });
    const d = await startTestDaemon({ mirrors: { [proxy.host]: proxy.url } });
    const err = await codeOf(d.clients.image.PullImage({ image: { image: `${proxy.host}/big/config:v1` } }));
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION, err.details);
    assert.match(err.details, new RegExp(`config ${image.configDigest}: ${image.config.length} bytes, more than the 8388608 allowed`));
    assert.ok(proxy.seen.some((r) => r.path.includes('/manifests/v1')), 'the manifest was fetched');
    assert.deepEqual(proxy.seen.filter((r) => r.path.includes('/blobs/')).map((r) => r.path), [], 'no blob was asked for');
    assert.deepEqual(proxy.seen.filter((r) => r.authorization !== undefined), [], 'no credentials were given, none sent');
    assert.deepEqual(await readdir(join(d.root, 'image', 'content', 'blobs', 'sha256')), [], 'nothing was kept');
  });

  it('an archive\'s config or manifest larger than its cap is refused unread, whatever its descriptor says', async () => {
    const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const layer = await buildLayer([{ type: 'file', path: 'f', content: 'x' }]);
    const image = buildImage({ layers: [layer], config: { Labels: { pad: 'x'.repeat(9 << 20) } } });
    const manifestOf = (configSize: number, pad?: string): Buffer =>
      Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: image.configDigest, size: configSize },
        layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
        ...(pad ? { annotations: { pad } } : {}),
      }));
    const d = await startTestDaemon();
    const importArchive = async (manifest: Buffer): Promise<string> => {
      const index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length }] };
      const blob = (b: Buffer): { type: 'file'; path: string; content: Buffer } => ({ type: 'file', path: `blobs/sha256/${sha(b).slice(7)}`, content: b });
      const tar = await buildLayer(
        [
          { type: 'file', path: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
          { type: 'file', path: 'index.json', content: JSON.stringify(index) },
          blob(manifest),
          blob(image.config),
          blob(layer.blob),
        ],
        { compression: 'none' },
      );
      const file = join(await tempDir(), 'archive.tar');
      await writeFile(file, tar.tar);
      try {
        await promisify(execFile)(process.execPath, [CORACLE_BIN, 'images', 'import', file, '--socket', d.socket]);
      } catch (err) {
        return (err as { stderr: string }).stderr;
      }
      throw new Error('the import was expected to fail');
    };
    // The descriptor says 100 bytes: the store's copy is what is measured.
    const lying = await importArchive(manifestOf(100));
    assert.match(lying, new RegExp(`blob ${image.configDigest}: ${image.config.length} bytes, more than the 8388608 allowed`));
    const honest = await importArchive(manifestOf(image.config.length));
    assert.match(honest, new RegExp(`config ${image.configDigest}: ${image.config.length} bytes, more than the 8388608 allowed`));
    const bigManifest = manifestOf(100, 'm'.repeat(5 << 20));
    const huge = await importArchive(bigManifest);
    assert.match(huge, new RegExp(`blob ${sha(bigManifest)}: ${bigManifest.length} bytes, more than the 4194304 allowed`));
    assert.equal((await d.clients.image.ListImages({})).images.length, 0);
    assert.deepEqual(await readdir(join(d.root, 'image', 'content', 'blobs', 'sha256')), [], 'nothing was kept');
  });
});
