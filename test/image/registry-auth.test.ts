import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { basicHeader, parseChallenge, serverAddressHost } from '../../src/image/registry-auth.js';
import { codeOf } from '../helpers/cri-client.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { startFaultProxy, type SeenRequest } from '../helpers/fault-proxy.js';
import { buildImage, buildLayer, pushImage, type BuiltImage } from '../helpers/images.js';
import { startTestRegistry, type TestRegistry } from '../helpers/test-registry.js';
import { startTokenRegistry } from '../helpers/token-registry.js';
import { startTokenServer } from '../helpers/token-server.js';

describe('image/registry-auth', () => {
  const cases: [string | undefined, ReturnType<typeof parseChallenge>][] = [
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
    ],
    ['Basic realm="coracle-test"', { scheme: 'basic', params: { realm: 'coracle-test' } }],
    ['bearer realm=https://x/token, service=reg', { scheme: 'bearer', params: { realm: 'https://x/token', service: 'reg' } }],
    ['Bearer realm="a\\"b"', { scheme: 'bearer', params: { realm: 'a"b' } }],
    ['Negotiate abc', undefined],
    ['', undefined],
    [undefined, undefined],
  ];
  for (const [header, want] of cases) {
    it(`parses ${JSON.stringify(header)}`, () => assert.deepEqual(parseChallenge(header), want));
  }
  it('builds a basic header from a user and password', () => {
    assert.equal(basicHeader({ username: 'alice', password: 's:cret' }), `Basic ${Buffer.from('alice:s:cret').toString('base64')}`);
    assert.equal(basicHeader({ registryToken: 't' }), undefined);
  });
  const addresses: [string, string][] = [
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['docker.io', 'docker.io'],
    ['Registry.Example:5000', 'registry.example:5000'],
    ['registry.example:5000/some/path', 'registry.example:5000'],
    ['http://127.0.0.1:5000', '127.0.0.1:5000'],
    ['https://quay.io:443', 'quay.io'],
  ];
  for (const [address, host] of addresses) {
    it(`server_address ${address} is for ${host}`, () => assert.equal(serverAddressHost(address), host));
  }
  it('a server_address that names no host is refused', () => {
    assert.throws(() => serverAddressHost('https://'), /server_address "https:\/\/" names no host/);
    assert.throws(() => serverAddressHost(' '), /names no host/);
  });
});

/** No request carried an Authorization header. */
function noCredentials(seen: SeenRequest[], who: string): void {
  const sent = seen.filter((r) => r.authorization !== undefined);
  assert.deepEqual(sent.map((r) => `${r.method} ${r.path}`), [], `${who} received credentials`);
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('image/registry-auth: credentials reach only the host they are for', function () {
  this.timeout(60_000);
  let registry: TestRegistry; // htpasswd: alice / secret
  let image: BuiltImage;
  const auth = { username: 'alice', password: 'secret' };

  before(async () => {
    registry = await startTestRegistry({ users: { alice: 'secret' }, scope: 'suite' });
    image = buildImage({ layers: [await buildLayer([{ type: 'file', path: 'p', content: 'private' }])] });
    await pushImage(registry.url, 'priv/img', image, ['v1'], auth);
  });
  after(async () => {
    await registry?.stop();
  });

  it('a plain-http mirror does not get the credentials meant for its upstream; listed and named by server_address, it does', async () => {
    const mirror = await startFaultProxy(registry.url, { kind: 'none' });
    // up.example's only endpoint is the mirror, an http URL that plain_http allows for it.
    const d = await startTestDaemon({ mirrors: { 'up.example': mirror.url } });
    const err = await codeOf(d.clients.image.PullImage({ image: { image: 'up.example/priv/img:v1' }, auth }));
    assert.equal(err.code, grpc.status.UNAUTHENTICATED, err.details);
    assert.match(err.details, new RegExp(`the credentials given are for up\\.example, not sent to ${mirror.host.replace(/\./g, '\\.')}`));
    assert.ok(mirror.seen.length > 0, 'the mirror was asked');
    noCredentials(mirror.seen, 'the mirror');

    // Named by server_address but not listed with plain_http: still nothing over http.
    const unlisted = await codeOf(d.clients.image.PullImage({ image: { image: 'up.example/priv/img:v1' }, auth: { ...auth, server_address: mirror.host } }));
    assert.equal(unlisted.code, grpc.status.UNAUTHENTICATED, unlisted.details);
    assert.match(unlisted.details, /not sent over plain http to .*which \[registry\.hosts\] does not list with plain_http/);
    noCredentials(mirror.seen, 'the mirror');

    // The mirror's own host listed with plain_http and named by server_address: it gets them.
    const d2 = await startTestDaemon({ mirrors: { 'up.example': mirror.url, [mirror.host]: mirror.url } });
    const ok = await d2.clients.image.PullImage({ image: { image: 'up.example/priv/img:v1' }, auth: { ...auth, server_address: `http://${mirror.host}` } });
    assert.equal(ok.image_ref, image.configDigest);
    assert.ok(mirror.seen.some((r) => r.authorization === basic('alice', 'secret')), 'the recording saw the credentials once allowed');
  });

  it('credentials whose server_address names host A are not sent to host B', async () => {
    const b = await startFaultProxy(registry.url, { kind: 'none' });
    const d = await startTestDaemon({ mirrors: { [b.host]: b.url } });
    const name = `${b.host}/priv/img:v1`;
    for (const serverAddress of ['a.example', 'https://a.example/v1/', 'https://index.docker.io/v1/']) {
      const err = await codeOf(d.clients.image.PullImage({ image: { image: name }, auth: { ...auth, server_address: serverAddress } }));
      assert.equal(err.code, grpc.status.UNAUTHENTICATED, err.details);
      assert.match(err.details, /authentication required; the credentials given are for (a\.example|docker\.io), not sent to 127\.0\.0\.1:\d+/);
    }
    assert.ok(b.seen.length > 0);
    noCredentials(b.seen, 'host B');
    const ok = await d.clients.image.PullImage({ image: { image: name }, auth: { ...auth, server_address: b.host } });
    assert.equal(ok.image_ref, image.configDigest);
    assert.ok(b.seen.some((r) => r.authorization === basic('alice', 'secret')));
  });

  it('a redirect to another host that answers 401 (Basic or Bearer) gets no credentials', async () => {
    const open = await startTestRegistry();
    await pushImage(open.url, 'red/img', image, ['v1']);
    const tokens = await startTokenServer({ alice: 'secret' });
    const basicHost = await startFaultProxy('', { kind: 'challenge', header: 'Basic realm="elsewhere"' });
    const bearerHost = await startFaultProxy('', { kind: 'challenge', header: `Bearer realm="${tokens.realm}",service="x"` });
    const toBasic = await startFaultProxy(open.url, { kind: 'redirect', to: basicHost.url });
    const toBearer = await startFaultProxy(open.url, { kind: 'redirect', to: bearerHost.url });
    const d = await startTestDaemon({ mirrors: { [toBasic.host]: toBasic.url, [toBearer.host]: toBearer.url } });
    for (const [front, other] of [[toBasic, basicHost], [toBearer, bearerHost]] as const) {
      // The credentials are for the front host, which may have them: the host it redirects to may not.
      const err = await codeOf(d.clients.image.PullImage({ image: { image: `${front.host}/red/img:v1` }, auth }));
      assert.equal(err.code, grpc.status.UNAUTHENTICATED, err.details);
      assert.match(err.details, new RegExp(`redirected to ${other.host.replace(/\./g, '\\.')}, which asks for authentication: credentials are not sent to a host a redirect leads to`));
      assert.ok(front.redirects > 0 && other.seen.length > 0, 'the redirect was followed');
      noCredentials(other.seen, 'the host redirected to');
      noCredentials(front.seen, 'the front (no challenge there)');
    }
    noCredentials(tokens.seen, 'the realm the other host named');
  });

  it('a token realm over plain http on another host than the registry gets no credentials; on its host:port, it does', async () => {
    const { tokens, registry: tokenRegistry, image: tokImage } = await startTokenRegistry();
    // The registry's own endpoint names the realm on the token server's port: another host.
    const d = await startTestDaemon({ mirrors: { [tokenRegistry.host]: tokenRegistry.url, [tokens.host]: tokens.url } });
    const bob = { username: 'bob', password: 'hunter2' };
    const err = await codeOf(d.clients.image.PullImage({ image: { image: `${tokenRegistry.host}/tok/img:v1` }, auth: bob }));
    assert.equal(err.code, grpc.status.UNAUTHENTICATED, err.details);
    assert.match(err.details, /token server http:\/\/127\.0\.0\.1:\d+\/token answered 401 \(the token server .* is plain http on another host than 127\.0\.0\.1:\d+: credentials are not sent there\)/);
    assert.ok(tokens.seen.length > 0, 'a token was asked for, anonymously');
    noCredentials(tokens.seen, 'the realm on another host');
    // Through the token server's own port (it fronts the registry), the realm is on the endpoint's host:port.
    const ok = await d.clients.image.PullImage({ image: { image: `${tokens.host}/tok/img:v1` }, auth: bob });
    assert.equal(ok.image_ref, tokImage.configDigest);
    assert.ok(tokens.seen.some((r) => r.authorization === basic('bob', 'hunter2')));
  });
});
