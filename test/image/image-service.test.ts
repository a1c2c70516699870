import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { lgetxattr } from '../../src/util/fs-syscalls.js';
import { codeOf } from '../helpers/cri-client.js';
import { until } from '../helpers/until.js';
import { startTestDaemon, tempDir, type TestDaemon } from '../helpers/daemon.js';
import {
  buildImage,
  buildIndex,
  buildLayer,
  busyboxRootfsEntries,
  pushImage,
  pushIndex,
  type BuiltImage,
  type BuiltIndex,
} from '../helpers/images.js';
import { corruptBlob, startTestRegistry, type TestRegistry } from '../helpers/test-registry.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { layerDirs, snapshotTrees } from '../helpers/snapshot-dirs.js';
import { startTokenRegistry } from '../helpers/token-registry.js';

const hex = (digest: string): string => digest.slice(7);

describe('image/image-service: ImageService', function () {
  this.timeout(60_000);
  let registry: TestRegistry;
  let base: BuiltImage; // busybox rootfs + a layer with every kind of entry
  let multi: BuiltIndex;
  let other: BuiltImage; // shares base's first layer

  before(async () => {
    registry = await startTestRegistry({ scope: 'suite' });
    const rootfs = await buildLayer(await busyboxRootfsEntries(), { format: 'docker' });
    const special = await buildLayer(
      [
        { type: 'dir', path: 'etc/app', mode: 0o750, uid: 1000, gid: 2000 },
        { type: 'file', path: 'etc/app/conf', content: 'v=1\n', mode: 0o640, uid: 1000, gid: 2000, mtime: new Date('2020-02-02T00:00:00Z') },
        { type: 'file', path: 'bin/suid', content: 'x', mode: 0o4755 },
        { type: 'dir', path: 'tmp/sticky', mode: 0o1777 },
        { type: 'hardlink', path: 'etc/app/conf-link', target: 'etc/app/conf' },
        { type: 'symlink', path: 'etc/app/latest', target: 'conf' },
        { type: 'fifo', path: 'etc/app/pipe' },
        { type: 'char', path: 'etc/app/null', major: 1, minor: 3 },
        { type: 'whiteout', path: 'bin/true' },
        { type: 'opaque', path: 'home' },
        { type: 'file', path: 'home/only', content: 'only\n' },
        { type: 'file', path: 'etc/app/xattr', content: '', xattrs: { 'user.test': 'hello', 'security.capability': Buffer.from('0100000200200000000000000000000000000000', 'hex') } },
      ],
      { format: 'docker' },
    );
    base = buildImage({
      layers: [rootfs, special],
      format: 'docker',
      config: { User: '1000:2000', Env: ['PATH=/bin', 'A=1'], Cmd: ['sh'], WorkingDir: '/home', Labels: { l: 'v' }, StopSignal: 'SIGINT', ExposedPorts: { '80/tcp': {} } },
    });
    await pushImage(registry.url, 'test/base', base, ['v1', 'also']);
    const extra = await buildLayer([{ type: 'file', path: 'other', content: 'o' }], { format: 'oci' });
    other = buildImage({ layers: [rootfs, extra], format: 'oci', config: { User: 'app' } });
    await pushImage(registry.url, 'test/other', other, ['v1']);
    const armLayer = await buildLayer([{ type: 'file', path: 'arch', content: 'arm64' }], { format: 'oci' });
    const amdLayer = await buildLayer([{ type: 'file', path: 'arch', content: 'amd64' }], { format: 'oci' });
    multi = buildIndex(
      [
        { image: buildImage({ layers: [armLayer], format: 'oci', architecture: 'arm64' }), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { image: buildImage({ layers: [amdLayer], format: 'oci', architecture: 'amd64' }), platform: { os: 'linux', architecture: 'amd64' } },
      ],
      'oci',
    );
    await pushIndex(registry.url, 'test/multi', multi, ['latest']);
  });
  after(async () => {
    await registry?.stop();
  });

  let d: TestDaemon;
  const ref = (repo: string): string => `${registry.host}/${repo}`;
  const snapshotDir = (d: TestDaemon, chainId: string): string => join(d.root, 'image', 'snapshots', hex(chainId), 'fs');

  beforeEach(async () => {
    d = await startTestDaemon({ mirrors: { [registry.host]: registry.url } });
  });

  it('pulls by tag: the id is the config digest everywhere', async () => {
    const pulled = await d.clients.image.PullImage({ image: { image: ref('test/base:v1') } });
    assert.equal(pulled.image_ref, base.configDigest);
    const list = await d.clients.image.ListImages({});
    assert.equal(list.images.length, 1);
    const img = list.images[0]!;
    assert.equal(img.id, base.configDigest);
    assert.deepEqual(img.repo_tags, [`${ref('test/base')}:v1`]);
    assert.deepEqual(img.repo_digests, [`${ref('test/base')}@${base.manifestDigest}`]);
    assert.equal(img.uid?.value, '1000');
    assert.equal(img.username, '');
    assert.equal(Number(img.size), base.layers.reduce((n, l) => n + l.size, 0) + base.config.length);
    for (const name of [ref('test/base:v1'), base.configDigest, hex(base.configDigest), hex(base.configDigest).slice(0, 12), `${ref('test/base')}@${base.manifestDigest}`]) {
      const s = await d.clients.image.ImageStatus({ image: { image: name }, verbose: false });
      assert.equal(s.image?.id, base.configDigest, `ImageStatus(${name})`);
    }
    const verbose = await d.clients.image.ImageStatus({ image: { image: ref('test/base:v1') }, verbose: true });
    const info = JSON.parse(verbose.info.info!) as { config: { env: string[]; stopSignal: string; workingDir: string; exposedPorts: string[] } };
    assert.deepEqual(info.config.env, ['PATH=/bin', 'A=1']);
    assert.equal(info.config.stopSignal, 'SIGINT');
    assert.equal(info.config.workingDir, '/home');
    assert.deepEqual(info.config.exposedPorts, ['80/tcp']);
    const filtered = await d.clients.image.ListImages({ filter: { image: { image: ref('test/base:v1') } } });
    assert.equal(filtered.images.length, 1);
    const none = await d.clients.image.ListImages({ filter: { image: { image: ref('test/base:nope') } } });
    assert.equal(none.images.length, 0);
  });

  it('a missing image is an unset image, not an error', async () => {
    const s = await d.clients.image.ImageStatus({ image: { image: ref('test/base:v1') } });
    assert.equal(s.image, null);
  });

  it('unpacks layers faithfully: whiteouts, opaque dirs, owners, modes, links, devices, xattrs', async () => {
    await d.clients.image.PullImage({ image: { image: ref('test/base:v1') } });
    const record = JSON.parse((await d.clients.image.ImageStatus({ image: { image: ref('test/base:v1') }, verbose: true })).info.info!) as { layers: { chainId: string }[] };
    const top = snapshotDir(d, record.layers[1]!.chainId);
    const wh = await lstat(join(top, 'bin/true'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'whiteout is a 0/0 char device');
    assert.equal(lgetxattr(join(top, 'home'), 'trusted.overlay.opaque').toString(), 'y');
    const conf = await lstat(join(top, 'etc/app/conf'));
    assert.deepEqual([conf.uid, conf.gid, conf.mode & 0o7777, conf.mtime.toISOString()], [1000, 2000, 0o640, '2020-02-02T00:00:00.000Z']);
    assert.equal((await lstat(join(top, 'etc/app'))).mode & 0o7777, 0o750);
    assert.equal((await lstat(join(top, 'bin/suid'))).mode & 0o7777, 0o4755);
    assert.equal((await lstat(join(top, 'tmp/sticky'))).mode & 0o7777, 0o1777);
    assert.equal((await lstat(join(top, 'etc/app/conf-link'))).ino, conf.ino, 'hardlink shares the inode');
    assert.equal((await lstat(join(top, 'etc/app/latest'))).isSymbolicLink(), true);
    assert.equal((await lstat(join(top, 'etc/app/pipe'))).isFIFO(), true);
    const dev = await lstat(join(top, 'etc/app/null'));
    assert.ok(dev.isCharacterDevice());
    assert.equal(dev.rdev, (1 << 8) | 3);
    assert.equal(lgetxattr(join(top, 'etc/app/xattr'), 'user.test').toString(), 'hello');
    assert.equal(lgetxattr(join(top, 'etc/app/xattr'), 'security.capability').toString('hex'), '0100000200200000000000000000000000000000');
    const bottom = snapshotDir(d, record.layers[0]!.chainId);
    assert.equal((await lstat(join(bottom, 'bin/sh'))).ino, (await lstat(join(bottom, 'bin/busybox'))).ino);
    assert.equal((await lstat(join(bottom, 'tmp'))).mode & 0o7777, 0o1777);
  });

  it('a hardlink to a file of a lower layer is unpacked whichever layer is done first', async () => {
    const lower = await buildLayer([{ type: 'file', path: 'tool', content: 'T'.repeat(3 << 20), mode: 0o755 }]);
    const upper = await buildLayer([{ type: 'hardlink', path: 'alias', target: 'tool' }]);
    const image = buildImage({ layers: [lower, upper] });
    await pushImage(registry.url, 'test/hardlink', image, ['v1']);
    await d.clients.image.PullImage({ image: { image: ref('test/hardlink:v1') } });
    const record = JSON.parse((await d.clients.image.ImageStatus({ image: { image: ref('test/hardlink:v1') }, verbose: true })).info.info!) as { layers: { chainId: string }[] };
    const top = snapshotDir(d, record.layers[1]!.chainId);
    assert.equal((await lstat(join(top, 'alias'))).ino, (await lstat(join(top, 'tool'))).ino, 'copied up and linked');
    assert.equal((await lstat(join(top, 'alias'))).size, 3 << 20);
  });

  it('pulls by digest: a repo digest and no tag', async () => {
    const r = await d.clients.image.PullImage({ image: { image: `${ref('test/base')}@${base.manifestDigest}` } });
    assert.equal(r.image_ref, base.configDigest);
    const s = await d.clients.image.ImageStatus({ image: { image: base.configDigest } });
    assert.deepEqual(s.image?.repo_tags, []);
    assert.deepEqual(s.image?.repo_digests, [`${ref('test/base')}@${base.manifestDigest}`]);
  });

  it('chooses linux/amd64 from a multi-arch index; the repo digest is the index digest', async () => {
    const r = await d.clients.image.PullImage({ image: { image: ref('test/multi') } });
    const amd = multi.children.find((c) => JSON.parse(c.config.toString()).architecture === 'amd64')!;
    assert.equal(r.image_ref, amd.configDigest);
    const s = await d.clients.image.ImageStatus({ image: { image: ref('test/multi:latest') } });
    assert.deepEqual(s.image?.repo_digests, [`${ref('test/multi')}@${multi.digest}`]);
  });

  it('removing one tag of an image with two removes the image, its tags and its data; again is no error', async () => {
    await d.clients.image.PullImage({ image: { image: ref('test/base:v1') } });
    await d.clients.image.PullImage({ image: { image: ref('test/base:also') } });
    const s = await d.clients.image.ImageStatus({ image: { image: ref('test/base:v1') } });
    assert.deepEqual(s.image?.repo_tags.sort(), [`${ref('test/base')}:also`, `${ref('test/base')}:v1`]);
    await d.clients.image.RemoveImage({ image: { image: ref('test/base:also') } });
    assert.equal((await d.clients.image.ListImages({})).images.length, 0);
    await d.clients.image.RemoveImage({ image: { image: ref('test/base:also') } });
    await d.clients.image.RemoveImage({ image: { image: base.configDigest } });
    // Snapshot trees are renamed away in the call and deleted after it.
    await until('the snapshot trees to be deleted', async () => (await snapshotTrees(d.root)).length === 0);
    assert.deepEqual(await readdir(join(d.root, 'image', 'content', 'blobs', 'sha256')), []);
    assert.deepEqual(await readdir(join(d.root, 'image', 'images')), []);
  });

  it('shares a layer between images and keeps it while one of them is left', async () => {
    await d.clients.image.PullImage({ image: { image: ref('test/base:v1') } });
    await d.clients.image.PullImage({ image: { image: ref('test/other:v1') } });
    assert.equal((await layerDirs(d.root)).length, 3, 'base layer unpacked once');
    const o = await d.clients.image.ImageStatus({ image: { image: ref('test/other:v1') } });
    assert.equal(o.image?.username, 'app');
    assert.equal(o.image?.uid, null);
    await d.clients.image.RemoveImage({ image: { image: ref('test/base:v1') } });
    // A removed snapshot is renamed to tmp-rm-… at once and deleted after the answer.
    assert.equal((await layerDirs(d.root)).length, 2);
    assert.ok(existsSync(join(d.root, 'image', 'content', 'blobs', 'sha256', hex(base.layers[0]!.digest))));
  });

  it('concurrent pulls of one image share the work and agree', async () => {
    const ids = await Promise.all(
      Array.from({ length: 6 }, () => d.clients.image.PullImage({ image: { image: ref('test/base:v1') } })),
    );
    assert.deepEqual(new Set(ids.map((r) => r.image_ref)), new Set([base.configDigest]));
    assert.equal((await layerDirs(d.root)).length, 2);
    assert.deepEqual(await readdir(join(d.root, 'image', 'content', 'ingest')), []);
  });

  it('ImageFsInfo reports the bytes and inodes of the store', async () => {
    const empty = await d.clients.image.ImageFsInfo({});
    await d.clients.image.PullImage({ image: { image: ref('test/base:v1') } });
    const full = await d.clients.image.ImageFsInfo({});
    const fs = full.image_filesystems[0]!;
    assert.equal(fs.fs_id?.mountpoint, join(d.root, 'image'));
    assert.ok(Number(fs.used_bytes!.value) > Number(empty.image_filesystems[0]!.used_bytes!.value) + 1_000_000, 'busybox counted');
    assert.ok(Number(fs.inodes_used!.value) > 20);
    assert.ok(BigInt(fs.timestamp) > BigInt(Date.now() - 60_000) * 1_000_000n);
  });

  it('keeps its images across a restart', async () => {
    await d.clients.image.PullImage({ image: { image: ref('test/base:v1') } });
    assert.deepEqual(await d.stop(), { code: 0, signal: null });
    const again = await startTestDaemon({ paths: d });
    const list = await again.clients.image.ListImages({});
    assert.deepEqual(list.images.map((i) => i.id), [base.configDigest]);
    assert.deepEqual(list.images[0]!.repo_tags, [`${ref('test/base')}:v1`]);
  });

  const errorCases: [string, () => string, grpc.status, RegExp][] = [
    ['an empty reference', () => '', grpc.status.INVALID_ARGUMENT, /image reference is empty/],
    ['a bad reference', () => 'Bad:Ref:x', grpc.status.INVALID_ARGUMENT, /image reference "Bad:Ref:x"/],
    ['a missing tag', () => ref('test/base:nope'), grpc.status.NOT_FOUND, /manifests\/nope: HTTP 404/],
    ['a missing repository', () => ref('test/none:v1'), grpc.status.NOT_FOUND, /not found/],
    ['a registry that is down', () => '127.0.0.1:1/test/base:v1', grpc.status.UNAVAILABLE, /https:\/\/127\.0\.0\.1:1\/v2\/test\/base\/manifests\/v1: .*ECONNREFUSED/],
  ];
  for (const [what, text, code, message] of errorCases) {
    it(`PullImage with ${what}: ${grpc.status[code]}`, async () => {
      const err = await codeOf(d.clients.image.PullImage({ image: { image: text() } }));
      assert.equal(err.code, code, err.details);
      assert.match(err.details, message);
    });
  }
});

describe('image/image-service: ImageService against a failing registry', function () {
  this.timeout(60_000);

  it('a corrupted blob fails the pull with DATA_LOSS and leaves nothing behind', async () => {
    const registry = await startTestRegistry();
    const layer = await buildLayer([{ type: 'file', path: 'f', content: 'x'.repeat(100_000) }]);
    const image = buildImage({ layers: [layer] });
    await pushImage(registry.url, 'bad/img', image, ['v1']);
    await corruptBlob(registry, layer.digest);
    const d = await startTestDaemon({ mirrors: { [registry.host]: registry.url } });
    const err = await codeOf(d.clients.image.PullImage({ image: { image: `${registry.host}/bad/img:v1` } }));
    assert.equal(err.code, grpc.status.DATA_LOSS, err.details);
    assert.match(err.details, new RegExp(`blob ${layer.digest}: downloaded content has digest sha256:`));
    assert.deepEqual(await readdir(join(d.root, 'image', 'content', 'blobs', 'sha256')), []);
    assert.deepEqual(await readdir(join(d.root, 'image', 'content', 'ingest')), []);
    await until('the snapshot trees to be deleted', async () => (await snapshotTrees(d.root)).length === 0);
    assert.equal((await d.clients.image.ListImages({})).images.length, 0);
  });

  it('a private registry: no or wrong credentials are UNAUTHENTICATED, the right ones pull', async () => {
    const registry = await startTestRegistry({ users: { alice: 'secret' } });
    const image = buildImage({ layers: [await buildLayer([{ type: 'file', path: 'p', content: 'private' }])] });
    await pushImage(registry.url, 'priv/img', image, ['v1'], { username: 'alice', password: 'secret' });
    const d = await startTestDaemon({ mirrors: { [registry.host]: registry.url } });
    const name = `${registry.host}/priv/img:v1`;
    const none = await codeOf(d.clients.image.PullImage({ image: { image: name } }));
    assert.equal(none.code, grpc.status.UNAUTHENTICATED, none.details);
    assert.match(none.details, /authentication required/);
    const wrong = await codeOf(d.clients.image.PullImage({ image: { image: name }, auth: { username: 'alice', password: 'nope' } }));
    assert.equal(wrong.code, grpc.status.UNAUTHENTICATED, wrong.details);
    assert.match(wrong.details, /authentication refused/);
    const ok = await d.clients.image.PullImage({ image: { image: name }, auth: { username: 'alice', password: 'secret' } });
    assert.equal(ok.image_ref, image.configDigest);
    await d.clients.image.RemoveImage({ image: { image: name } });
    const viaAuth = await d.clients.image.PullImage({ image: { image: name }, auth: { auth: Buffer.from('alice:secret').toString('base64') } });
    assert.equal(viaAuth.image_ref, image.configDigest);
    assert.ok(!d.lines.some((l) => l.includes('secret')), 'no credential in the log');
  });

  it('a token-auth registry: the bearer flow with the right credentials, UNAUTHENTICATED without', async () => {
    // The realm shares the registry's host:port (the token server fronts it): credentials go
    // over plain http to that host alone (test/image/registry-auth.test.ts has the others).
    const { tokens, image } = await startTokenRegistry();
    const d = await startTestDaemon({ mirrors: { [tokens.host]: tokens.url } });
    const name = `${tokens.host}/tok/img:v1`;
    const anonymous = await codeOf(d.clients.image.PullImage({ image: { image: name } }));
    assert.equal(anonymous.code, grpc.status.UNAUTHENTICATED, anonymous.details);
    assert.match(anonymous.details, /token server .*\/token answered 401/);
    const wrong = await codeOf(d.clients.image.PullImage({ image: { image: name }, auth: { username: 'bob', password: 'nope' } }));
    assert.equal(wrong.code, grpc.status.UNAUTHENTICATED, wrong.details);
    const ok = await d.clients.image.PullImage({ image: { image: name }, auth: { username: 'bob', password: 'hunter2' } });
    assert.equal(ok.image_ref, image.configDigest);
    await d.clients.image.RemoveImage({ image: { image: name } });
    const viaToken = await d.clients.image.PullImage({ image: { image: name }, auth: { registry_token: tokens.issue('bob', 'repository:tok/img:pull') } });
    assert.equal(viaToken.image_ref, image.configDigest);
    assert.ok(!d.lines.some((l) => l.includes('hunter2')), 'no credential in the log');
  });

  it('tries mirrors in order and follows blob redirects to another origin', async () => {
    const registry = await startTestRegistry();
    const image = buildImage({ layers: [await buildLayer([{ type: 'file', path: 'm', content: 'mirrored' }])] });
    await pushImage(registry.url, 'mir/img', image, ['v1']);
    const proxy = await startFaultProxy(registry.url, { kind: 'redirect' });
    const d = await startTestDaemon({ mirrors: { 'far.example': ['http://127.0.0.1:1', proxy.url] } });
    const r = await d.clients.image.PullImage({ image: { image: 'far.example/mir/img:v1' } });
    assert.equal(r.image_ref, image.configDigest);
    assert.equal(proxy.redirects, 2, 'config and layer were redirected');
    assert.ok(d.lines.some((l) => l.includes('pull: endpoint failed') && l.includes('127.0.0.1:1')), 'the dead mirror was tried first');
    const s = await d.clients.image.ImageStatus({ image: { image: 'far.example/mir/img:v1' } });
    assert.deepEqual(s.image?.repo_tags, ['far.example/mir/img:v1']);
  });

  it('a layer whose download broke half-way is unpacked from the blob the retry brought', async () => {
    const registry = await startTestRegistry();
    const files = Array.from({ length: 50 }, (_, i) => ({ type: 'file' as const, path: `d/f${i}`, content: randomBytes(30_000).toString('hex') }));
    const layer = await buildLayer(files, { compression: 'zstd' });
    const image = buildImage({ layers: [layer] });
    await pushImage(registry.url, 'cut/img', image, ['v1']);
    // Past the first MiB: the unpack that followed the download has begun when it breaks.
    assert.ok(layer.size > 1_200_000, `a layer of ${layer.size} bytes`);
    const proxy = await startFaultProxy(registry.url, { kind: 'cut', afterBytes: 1_100_000, times: 1 });
    const d = await startTestDaemon({ mirrors: { 'cut.example': proxy.url } });
    const r = await d.clients.image.PullImage({ image: { image: 'cut.example/cut/img:v1' } });
    assert.equal(r.image_ref, image.configDigest);
    assert.equal(proxy.cuts, 1, 'one download was broken, and retried');
    assert.ok(d.lines.some((l) => l.includes('layer unpacked again from the store') && l.includes(layer.digest)), 'the unpack that followed the broken download was given up');
    assert.equal(await readFile(join(d.root, 'image', 'snapshots', hex(layer.diffId), 'fs', 'd', 'f49'), 'utf8'), files[49]!.content);
    assert.deepEqual(await readdir(join(d.root, 'image', 'content', 'ingest')), []);
    assert.deepEqual(await snapshotTrees(d.root), [hex(layer.diffId)], 'the abandoned unpack left nothing');
  });

  it('a download that stops making progress is cancelled after pull_progress_timeout', async () => {
    const registry = await startTestRegistry();
    const layer = await buildLayer([{ type: 'file', path: 'big', content: Buffer.alloc(4 << 20, 1) }], { compression: 'none' });
    const image = buildImage({ layers: [layer] });
    await pushImage(registry.url, 'slow/img', image, ['v1']);
    const proxy = await startFaultProxy(registry.url, { kind: 'stall', afterBytes: 64 * 1024 });
    const d = await startTestDaemon({ mirrors: { 'slow.example': proxy.url }, extra: '[image]\npull_progress_timeout = 1\n' });
    const started = Date.now();
    const err = await codeOf(d.clients.image.PullImage({ image: { image: 'slow.example/slow/img:v1' } }));
    assert.equal(err.code, grpc.status.UNAVAILABLE, err.details);
    assert.match(err.details, /no data for 1 s: pull progress timeout/);
    assert.ok(Date.now() - started < 15_000, 'gave up in time');
    assert.deepEqual(await readdir(join(d.root, 'image', 'content', 'ingest')), []);
    assert.deepEqual(await readdir(join(d.root, 'image', 'content', 'blobs', 'sha256')), []);
  });

  it('refuses hostile layers and writes nothing outside the store', async () => {
    const registry = await startTestRegistry();
    const outside = await tempDir('coracle-outside-');
    const d = await startTestDaemon({ mirrors: { [registry.host]: registry.url } });
    const refused: [string, Parameters<typeof buildLayer>[0]][] = [
      ['traversal', [{ type: 'file', path: `../../../../../../${outside}/pwned`, content: 'x' }]],
      ['hardlink out', [{ type: 'hardlink', path: 'passwd', target: '../../../../../../../etc/passwd' }]],
    ];
    for (const [name, entries] of refused) {
      await pushImage(registry.url, `evil/${name.replace(' ', '-')}`, buildImage({ layers: [await buildLayer(entries)] }), ['v1']);
      const err = await codeOf(d.clients.image.PullImage({ image: { image: `${registry.host}/evil/${name.replace(' ', '-')}:v1` } }));
      assert.equal(err.code, grpc.status.FAILED_PRECONDITION, `${name}: ${err.details}`);
      assert.match(err.details, /escapes the layer/);
    }
    // Contained, as a chroot would resolve them: the files land inside the layer.
    const contained = await buildLayer([
      { type: 'symlink', path: 'abs', target: outside },
      { type: 'file', path: 'abs/via-absolute-symlink', content: 'x' },
      { type: 'symlink', path: 'rel', target: '../../../../../../../..' + outside },
      { type: 'file', path: 'rel/via-relative-symlink', content: 'x' },
      { type: 'symlink', path: 'a', target: 'b' },
      { type: 'symlink', path: 'b', target: `../x/..${outside}` },
      { type: 'file', path: 'a/via-chain', content: 'x' },
      { type: 'file', path: `/${outside.slice(1)}/absolute-entry`, content: 'x' },
    ]);
    await pushImage(registry.url, 'evil/contained', buildImage({ layers: [contained] }), ['v1']);
    await d.clients.image.PullImage({ image: { image: `${registry.host}/evil/contained:v1` } });
    assert.deepEqual(await readdir(outside), [], 'nothing written outside');
    const snaps = await layerDirs(d.root);
    assert.equal(snaps.length, 1);
    const inside = join(d.root, 'image', 'snapshots', snaps[0]!, 'fs', outside);
    assert.deepEqual((await readdir(inside)).sort(), ['absolute-entry', 'via-absolute-symlink', 'via-chain', 'via-relative-symlink']);
    assert.ok((await stat(join(inside, 'via-chain'))).isFile());
    assert.equal(await readFile(join(inside, 'absolute-entry'), 'utf8'), 'x');
  });
});
