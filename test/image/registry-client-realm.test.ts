import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Agent as HttpsAgent, createServer as createHttpsServer } from 'node:https';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { CoracleError } from '../../src/errors.js';
import { closeAgents, httpAgents } from '../../src/image/http-transport.js';
import { RegistryRepository } from '../../src/image/registry-client.js';
import { onCleanup } from '../helpers/cleanup.js';
import { codeOf } from '../helpers/cri-client.js';
import { startTestDaemon, tempDir } from '../helpers/daemon.js';
import { startFaultProxy, type SeenRequest } from '../helpers/fault-proxy.js';
import { buildImage, buildLayer, pushImage } from '../helpers/images.js';
import { startTestRegistry } from '../helpers/test-registry.js';
import { startTokenServer } from '../helpers/token-server.js';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const withAuth = (seen: SeenRequest[]): string[] => seen.filter((r) => r.authorization !== undefined).map((r) => `${r.method} ${r.path} ${r.authorization}`);

/**
 * One TCP port that speaks both https (a registry that answers every request with a bearer
 * challenge) and plain http (passed on to `plainTo`, a token server): the challenge can then
 * name an http realm on the registry's very host:port.
 */
async function dualPort(plainTo: string, challenge: (port: number) => string): Promise<{ port: number; ca: Buffer; seen: SeenRequest[] }> {
  const dir = await tempDir('coracle-realm-tls-');
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const seen: SeenRequest[] = [];
  let port = 0;
  const https = createHttpsServer({ key: await readFile(key), cert: await readFile(cert) }, (req, res) => {
    seen.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
    req.resume();
    res.writeHead(401, { 'www-authenticate': challenge(port), 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
  });
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
  const httpsPort = (https.address() as { port: number }).port;
  https.on('connection', track);
  // A TCP forwarder that picks by the first byte: 0x16 opens a TLS handshake.
  const tcp = createTcpServer((socket) => {
    track(socket);
    socket.once('data', (first: Buffer) => {
      socket.pause();
      const up = connect(first[0] === 0x16 ? httpsPort : Number(new URL(plainTo).port), '127.0.0.1', () => {
        up.write(first);
        socket.pipe(up);
        up.pipe(socket);
        socket.resume();
      });
      track(up);
    });
  });
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  port = (tcp.address() as { port: number }).port;
  onCleanup('stop the dual-protocol port', () => {
    for (const s of sockets) s.destroy();
    return Promise.all([new Promise<void>((r) => tcp.close(() => r())), new Promise<void>((r) => https.close(() => r()))]);
  });
  return { port, ca: await readFile(cert), seen };
}

describe('image/registry-client: token realms', function () {
  this.timeout(60_000);

  it('an https registry naming an http realm on its own host:port gets no credentials there (asked anonymously)', async () => {
    const tokens = await startTokenServer({ alice: 'secret' });
    const reg = await dualPort(tokens.url, (port) => `Bearer realm="http://127.0.0.1:${port}/token",service="${tokens.service}",scope="repository:priv/img:pull"`);
    const host = `127.0.0.1:${reg.port}`;
    const agents = { ...httpAgents(1), https: new HttpsAgent({ ca: reg.ca }) };
    onCleanup('close the agents', () => closeAgents(agents));
    const repo = new RegistryRepository(
      { url: `https://${host}`, mirror: false, registry: host, authHost: host, credentialsAllowed: true },
      'priv/img',
      { username: 'alice', password: 'secret' },
      agents,
      { headersTimeoutMs: 10_000, progressTimeoutMs: 10_000, attempts: 1 },
    );
    const err = await repo.manifest('v1').then(() => assert.fail('pulled'), (e: unknown) => e);
    assert.ok(err instanceof CoracleError, String(err));
    assert.equal(err.code, 'UNAUTHENTICATED', err.message);
    assert.match(err.message, new RegExp(`token server http://${host}/token answered 401 \\(the token server http://${host}/token is plain http while ${host} is https: credentials are not sent there\\)`));
    assert.ok(reg.seen.length > 0 && tokens.seen.length > 0, 'the registry was asked over TLS, and the realm over plain http');
    assert.deepEqual(withAuth(tokens.seen), [], 'the token server got no credentials over plain http');
    assert.deepEqual(withAuth(reg.seen), []);
  });

  it('a redirect to another host that asks for a bearer token gets an anonymous one, never the credentials', async () => {
    const registry = await startTestRegistry();
    const image = buildImage({ layers: [await buildLayer([{ type: 'file', path: 'r', content: 'redirected' }])] });
    await pushImage(registry.url, 'red/img', image, ['v1']);
    const tokens = await startTokenServer({ alice: 'secret' }, { anonymousToken: 'anon-blob-token' });
    // The blob store: everything passes with the anonymous token, nothing without it.
    const store = await startFaultProxy(registry.url, { kind: 'bearer', header: `Bearer realm="${tokens.realm}",service="blobs"`, token: 'anon-blob-token' });
    const front = await startFaultProxy(registry.url, { kind: 'redirect', to: store.url });
    const d = await startTestDaemon({ mirrors: { [front.host]: front.url } });

    const anonymous = await d.clients.image.PullImage({ image: { image: `${front.host}/red/img:v1` } });
    assert.equal(anonymous.image_ref, image.configDigest);
    assert.ok(front.redirects > 0, 'the blobs were redirected');
    assert.ok(store.seen.some((r) => r.authorization === undefined) && store.seen.some((r) => r.authorization === 'Bearer anon-blob-token'), 'challenged, then let in with the token');
    assert.deepEqual(withAuth(front.seen), [], 'the token for the store is not sent to the front');

    // With credentials for the front host: the same, and they go nowhere (the front never asks).
    await d.clients.image.RemoveImage({ image: { image: `${front.host}/red/img:v1` } });
    const withCreds = await d.clients.image.PullImage({ image: { image: `${front.host}/red/img:v1` }, auth: { username: 'alice', password: 'secret' } });
    assert.equal(withCreds.image_ref, image.configDigest);
    assert.ok(tokens.seen.length >= 2, 'a token was asked for on each pull');
    assert.deepEqual(withAuth(tokens.seen), [], 'the realm the store named got no credentials');
    assert.ok(!store.seen.some((r) => r.authorization === basic('alice', 'secret')), 'the store got no credentials');
    assert.deepEqual(withAuth(front.seen), []);
  });

  it('a redirect to a host whose realm refuses anonymous tokens: UNAUTHENTICATED, naming both refusals', async () => {
    const registry = await startTestRegistry();
    const image = buildImage({ layers: [await buildLayer([{ type: 'file', path: 'r', content: 'refused' }])] });
    await pushImage(registry.url, 'red/img', image, ['v1']);
    const tokens = await startTokenServer({ alice: 'secret' });
    const store = await startFaultProxy(registry.url, { kind: 'bearer', header: `Bearer realm="${tokens.realm}",service="blobs"`, token: 'never' });
    const front = await startFaultProxy(registry.url, { kind: 'redirect', to: store.url });
    const d = await startTestDaemon({ mirrors: { [front.host]: front.url } });
    const err = await codeOf(d.clients.image.PullImage({ image: { image: `${front.host}/red/img:v1` }, auth: { username: 'alice', password: 'secret' } }));
    assert.equal(err.code, grpc.status.UNAUTHENTICATED, err.details);
    assert.match(err.details, new RegExp(`redirected to ${store.host}, which asks for authentication: credentials are not sent to a host a redirect leads to; an anonymous token was refused: .*token server ${tokens.realm} answered 401`));
    assert.ok(tokens.seen.length > 0);
    assert.deepEqual(withAuth(tokens.seen), []);
    assert.deepEqual(withAuth(store.seen), []);
  });
});
