import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { chmod, chown, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configKeyFor, credentialsFor, parseDockerConfig, withLogin, withoutLogin } from '../../src/image/docker-config.js';
import { codeOf } from '../helpers/cri-client.js';
import { startTestDaemon, tempDir } from '../helpers/daemon.js';
import { buildImage, buildLayer, pushImage, type BuiltImage } from '../helpers/images.js';
import { startTestRegistry, type TestRegistry } from '../helpers/test-registry.js';

const PASSWORD = 'Daemon-pw-0b6d2e41';
const AUTH = Buffer.from(`carol:${PASSWORD}`).toString('base64');

describe('image/docker-config', () => {
  it('keys: Docker Hub by any of its names as docker writes it, others as host[:port]', () => {
    for (const hub of ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1/']) assert.equal(configKeyFor(hub), 'https://index.docker.io/v1/');
    assert.equal(configKeyFor('http://127.0.0.1:5000/'), '127.0.0.1:5000');
    assert.equal(configKeyFor('Registry.Example:5000'), 'registry.example:5000');
  });
  it('finds an entry by host, under whichever spelling of its key; decodes auth or username/password', () => {
    const doc = parseDockerConfig(JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: AUTH }, 'https://reg.example:5000/v2/': { username: 'u', password: 'p' } } }), 'f');
    assert.deepEqual(credentialsFor(doc, 'docker.io', 'f'), { serverAddress: 'https://index.docker.io/v1/', username: 'carol', password: PASSWORD });
    assert.deepEqual(credentialsFor(doc, 'reg.example:5000', 'f'), { serverAddress: 'https://reg.example:5000/v2/', username: 'u', password: 'p' });
    assert.equal(credentialsFor(doc, 'reg.example', 'f'), undefined);
  });
  it('login replaces the host entry (any spelling) and keeps the rest; logout removes it', () => {
    const doc = { auths: { 'http://h:1/': { auth: 'eDp5' }, other: { auth: 'eDp5' } }, credsStore: 'desktop' };
    const after = withLogin(doc, 'h:1', 'a', 'b');
    assert.deepEqual(after, { auths: { other: { auth: 'eDp5' }, 'h:1': { auth: Buffer.from('a:b').toString('base64') } }, credsStore: 'desktop' });
    assert.deepEqual(withoutLogin(after, 'h:1'), { doc: { auths: { other: { auth: 'eDp5' } }, credsStore: 'desktop' }, removed: true });
    assert.equal(withoutLogin(doc, 'nope:2').removed, false);
  });
  it('refuses what is not a docker config, never quoting a secret', () => {
    assert.throws(() => parseDockerConfig('[1]', 'f'), /f: not a JSON object/);
    assert.throws(() => parseDockerConfig('{"auths": 3}', 'f'), /f: "auths" is not an object/);
    // Truncated in the middle of a secret: JSON.parse's own message would quote it.
    const cut = `{"auths": {"h": {"auth": "${Buffer.from('user:hunter2-secret').toString('base64')}`;
    assert.throws(() => parseDockerConfig(cut, 'f'), (err: Error) => err.message === 'f: not JSON');
    const bad = parseDockerConfig(JSON.stringify({ auths: { h: { auth: Buffer.from('no-colon-secret').toString('base64') } } }), 'f');
    assert.throws(() => credentialsFor(bad, 'h', 'f'), (err: Error) => /auths\."h"\.auth is not base64 of user:password/.test(err.message) && !err.message.includes('no-colon-secret'));
  });
});

describe('image/credentials-file: the daemon\'s own credentials ([registry] config_path)', function () {
  this.timeout(60_000);
  let registry: TestRegistry; // htpasswd: carol / PASSWORD
  let image: BuiltImage;
  before(async () => {
    registry = await startTestRegistry({ users: { carol: PASSWORD }, scope: 'suite' });
    image = buildImage({ layers: [await buildLayer([{ type: 'file', path: 'd', content: 'daemon creds' }])] });
    await pushImage(registry.url, 'node/img', image, ['v1', 'v2', 'v3'], { username: 'carol', password: PASSWORD });
  });
  after(async () => {
    await registry?.stop();
  });

  it('a CRI pull without auth uses the file; kubelet\'s credentials, when given, come first; no secret in the debug log', async () => {
    const dir = await tempDir();
    const file = join(dir, 'registry-auth.json');
    await writeFile(file, JSON.stringify({ auths: { [registry.host]: { auth: AUTH } }, credsStore: 'ignored' }), { mode: 0o600 });
    const d = await startTestDaemon({ mirrors: { [registry.host]: registry.url }, extra: `[registry]\nconfig_path = ${JSON.stringify(file)}` });
    const ok = await d.clients.image.PullImage({ image: { image: `${registry.host}/node/img:v1` } });
    assert.equal(ok.image_ref, image.configDigest);
    // Kubelet's (wrong) credentials are used, not the file's.
    const err = await codeOf(d.clients.image.PullImage({ image: { image: `${registry.host}/node/img:v2` }, auth: { username: 'carol', password: 'kubelets-wrong' } }));
    assert.equal(err.code, grpc.status.UNAUTHENTICATED, err.details);
    assert.match(err.details, /HTTP 401 \(authentication refused\)/);
    const log = d.lines.join('\n');
    assert.ok(d.lines.some((l) => l.includes('"level":"debug"')));
    for (const secret of [PASSWORD, AUTH, 'kubelets-wrong']) assert.ok(!log.includes(secret), `the daemon's log shows ${secret}`);
  });

  it('a file that is not root\'s alone is refused, naming the file and the problem; once fixed, the next pull reads it', async () => {
    const dir = await tempDir();
    const file = join(dir, 'registry-auth.json');
    await writeFile(file, JSON.stringify({ auths: { [registry.host]: { auth: AUTH } } }), { mode: 0o600 });
    await chmod(file, 0o644);
    const d = await startTestDaemon({ mirrors: { [registry.host]: registry.url }, extra: `[registry]\nconfig_path = ${JSON.stringify(file)}` });
    const name = `${registry.host}/node/img:v3`;
    const open = await codeOf(d.clients.image.PullImage({ image: { image: name } }));
    assert.equal(open.code, grpc.status.FAILED_PRECONDITION, open.details);
    assert.equal(open.details, `[registry] config_path ${file}: mode 0644: readable or writable by others than root; it must be 0600 or stricter`);
    await chmod(file, 0o600);
    await chown(file, 65534, 0);
    const foreign = await codeOf(d.clients.image.PullImage({ image: { image: name } }));
    assert.equal(foreign.code, grpc.status.FAILED_PRECONDITION, foreign.details);
    assert.equal(foreign.details, `[registry] config_path ${file}: owned by uid 65534, not root: refused`);
    // Fixed, it is read again at the next pull: no restart.
    await chown(file, 0, 0);
    assert.equal((await d.clients.image.PullImage({ image: { image: name } })).image_ref, image.configDigest);
    assert.ok(!d.lines.join('\n').includes(PASSWORD));
  });
});
