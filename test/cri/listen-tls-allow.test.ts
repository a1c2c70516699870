import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { loadCriProto } from '../../src/cri/proto-clients.js';
import { onCleanup } from '../helpers/cleanup.js';
import { codeOf } from '../helpers/cri-client.js';
import { startTestDaemon, tempDir, type TestDaemon } from '../helpers/daemon.js';
import { TestPki, type CertFiles } from '../helpers/pki.js';
import { freePort } from '../helpers/test-registry.js';

/** A CA in a dir of the test's own, the server's certificate for 127.0.0.1 it signed, and a port for the listener. */
async function serverPki(): Promise<{ pki: TestPki; ca: string; server: CertFiles; port: number }> {
  const pki = new TestPki(await tempDir());
  const ca = (await pki.ca('ca')).cert;
  return { pki, ca, server: await pki.signed('server', 'ca', 'IP:127.0.0.1'), port: await freePort() };
}

function remoteToml(port: number, ca: string, server: CertFiles, allow = ''): string {
  return `[remote]\nlisten = "tcp://127.0.0.1:${port}"\nca = "${ca}"\ncert = "${server.cert}"\nkey = "${server.key}"\n${allow}`;
}

/** Version over a gRPC-js channel with `who`'s certificate; resolves with the runtime name. */
async function versionAs(port: number, ca: string, who: CertFiles): Promise<string> {
  const proto = loadCriProto();
  const creds = grpc.credentials.createSsl(await readFile(ca), await readFile(who.key), await readFile(who.cert));
  const client = new proto.runtime.v1.RuntimeService(`127.0.0.1:${port}`, creds);
  try {
    return await new Promise<string>((resolve, reject) =>
      client.Version({}, { deadline: Date.now() + 15_000 }, (err, res) => (err ? reject(err) : resolve(res!.runtime_name))),
    );
  } finally {
    client.close();
  }
}

/** Waits until the daemon has logged a line matching `re`. */
async function logged(d: TestDaemon, re: RegExp, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!d.lines.some((l) => re.test(l))) {
    if (Date.now() > deadline || d.proc.exitCode !== null) throw new Error(`no log line ${re} (exit ${d.proc.exitCode}):\n${d.lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** An HTTP/2 connection with `who`'s certificate, its TLS socket, and Version calls on it. */
async function h2Session(port: number, ca: string, who: CertFiles): Promise<{ session: ClientHttp2Session; serial: string; version(): Promise<{ status: string; body: string }> }> {
  const opts = { ca: await readFile(ca), cert: await readFile(who.cert), key: await readFile(who.key), ALPNProtocols: ['h2'] };
  let socket!: TLSSocket;
  const session = h2connect(`https://127.0.0.1:${port}`, {
    createConnection: () => {
      socket = tlsConnect({ host: '127.0.0.1', port, ...opts });
      return socket;
    },
  });
  session.on('error', () => undefined);
  onCleanup('close an HTTP/2 test session', () => void session.destroy());
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  const version = (): Promise<{ status: string; body: string }> =>
    new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/runtime.v1.RuntimeService/Version', 'content-type': 'application/grpc', te: 'trailers' });
      const chunks: Buffer[] = [];
      let status = '';
      req.on('trailers', (t) => (status = String(t['grpc-status'])));
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString('latin1') }));
      req.on('error', reject);
      req.end(Buffer.alloc(5));
    });
  return { session, serial: socket.getPeerCertificate().serialNumber, version };
}

describe('cri/listen: remote listener: allowed client certificates, reloaded server certificate', function () {
  this.timeout(60_000);

  it('lets in a certificate the allow-list names by subject or SAN, refuses another the CA signed with PERMISSION_DENIED', async () => {
    const { pki, ca, server, port } = await serverPki();
    const admin = await pki.signed('admin', 'ca', 'DNS:admin.example', '/O=Ops/CN=admin');
    const robot = await pki.signed('robot', 'ca', 'URI:spiffe://coracle/ops');
    const byIp = await pki.signed('by-ip', 'ca', 'IP:::1');
    const intruder = await pki.signed('intruder', 'ca', 'DNS:intruder.example,URI:spiffe://coracle/intruder');
    const wildcard = await pki.signed('wildcard', 'ca', 'DNS:*.example');
    const allow = 'allowed_subjects = ["CN=admin,O=Ops"]\nallowed_sans = ["URI:spiffe://coracle/ops", "IP:0:0::1", "DNS:ops.example"]\n';
    const d = await startTestDaemon({ extra: remoteToml(port, ca, server, allow) });
    assert.ok(!d.lines.some((l) => l.includes('every client certificate the CA signs is let in')), 'no open-door warning with an allow-list');

    assert.match(await versionAs(port, ca, admin), /coracle/, 'by subject');
    assert.match(await versionAs(port, ca, robot), /coracle/, 'by URI SAN');
    assert.match(await versionAs(port, ca, byIp), /coracle/, 'by IP SAN, however written');
    for (const [who, subject] of [[intruder, 'CN=intruder'], [wildcard, 'CN=wildcard']] as const) {
      const err = await codeOf(versionAs(port, ca, who));
      assert.equal(err.code, grpc.status.PERMISSION_DENIED, err.details);
      assert.equal(err.details, `client certificate "${subject}" is not allowed by the daemon's remote.allowed_subjects or remote.allowed_sans`);
    }
    await logged(d, /"level":"warn".*TLS client refused.*"subject":"CN=intruder".*spiffe:\/\/coracle\/intruder/);
    // The refused ones left the daemon serving the others.
    assert.match(await versionAs(port, ca, admin), /coracle/);
  });

  it('SIGHUP: new connections get the rotated certificate, open ones keep working; a broken key keeps the old one', async () => {
    const dir = await tempDir();
    const pki = new TestPki(dir);
    const ca = (await pki.ca('ca')).cert;
    const first = await pki.signed('server1', 'ca', 'IP:127.0.0.1');
    const second = await pki.signed('server2', 'ca', 'IP:127.0.0.1');
    const client = await pki.signed('client', 'ca', 'DNS:client');
    const live = { cert: join(dir, 'live.pem'), key: join(dir, 'live.key') };
    await copyFile(first.cert, live.cert);
    await copyFile(first.key, live.key);
    const port = await freePort();
    const d = await startTestDaemon({ extra: remoteToml(port, ca, live) });
    await logged(d, /"level":"warn".*every client certificate the CA signs is let in, and is root on this node/);
    const serialOf = async (files: CertFiles): Promise<string> => new (await import('node:crypto')).X509Certificate(await readFile(files.cert)).serialNumber;
    const [s1, s2] = [await serialOf(first), await serialOf(second)];

    const old = await h2Session(port, ca, client);
    assert.equal(old.serial, s1);
    assert.equal((await old.version()).status, '0');

    await copyFile(second.cert, live.cert);
    await copyFile(second.key, live.key);
    d.proc.kill('SIGHUP');
    await logged(d, new RegExp(`certificate files reloaded.*"serial":"${s2}"`));
    const fresh = await h2Session(port, ca, client);
    assert.equal(fresh.serial, s2, 'a new connection sees the new certificate');
    assert.match((await fresh.version()).body, /coracle/);
    const again = await old.version();
    assert.equal(again.status, '0', 'the connection made before the reload still serves');
    assert.match(again.body, /coracle/);

    await writeFile(live.key, '-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n');
    d.proc.kill('SIGHUP');
    await logged(d, /"level":"error".*reloading the certificate files failed; the previous ones stay in use/);
    assert.equal(d.proc.exitCode, null, 'the daemon is alive');
    const after = await h2Session(port, ca, client);
    assert.equal(after.serial, s2, 'the last good certificate is still served');
    assert.equal((await after.version()).status, '0');
    assert.match(await versionAs(port, ca, client), /coracle/);
  });

  it('TLS 1.3 only: a client that offers at most TLS 1.2 is refused, before and after a reload', async () => {
    const { pki, ca, server, port } = await serverPki();
    const client = await pki.signed('client', 'ca', 'DNS:client');
    const d = await startTestDaemon({ extra: remoteToml(port, ca, server) });
    const handshake = async (maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<string> => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca: await readFile(ca), cert: await readFile(client.cert), key: await readFile(client.key), ALPNProtocols: ['h2'], maxVersion });
      onCleanup('close a TLS test socket', () => void socket.destroy());
      return new Promise<string>((resolve) => {
        socket.once('secureConnect', () => {
          resolve(socket.getProtocol() ?? '?');
          socket.destroy();
        });
        socket.once('error', (err: NodeJS.ErrnoException) => resolve(`refused: ${err.code ?? err.message}`));
      });
    };
    for (const round of ['before', 'after']) {
      assert.equal(await handshake('TLSv1.3'), 'TLSv1.3', round);
      assert.match(await handshake('TLSv1.2'), /^refused: ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION$/, round);
      if (round === 'before') {
        d.proc.kill('SIGHUP');
        await logged(d, /certificate files reloaded/);
      }
    }
    assert.match(await versionAs(port, ca, client), /coracle/);
  });

  it('SIGHUP rereads the allow-lists: a client taken off is refused and its open connection closed; a bad config keeps the old lists', async () => {
    const { pki, ca, server, port } = await serverPki();
    const admin = await pki.signed('admin', 'ca', 'DNS:admin.example', '/O=Ops/CN=admin');
    const robot = await pki.signed('robot', 'ca', 'URI:spiffe://coracle/robot');
    const d = await startTestDaemon({ extra: remoteToml(port, ca, server, 'allowed_subjects = ["CN=admin,O=Ops"]\nallowed_sans = ["URI:spiffe://coracle/robot"]\n') });
    const adminSession = await h2Session(port, ca, admin);
    const robotSession = await h2Session(port, ca, robot);
    assert.equal((await adminSession.version()).status, '0');
    assert.equal((await robotSession.version()).status, '0');
    const robotClosed = new Promise<void>((r) => robotSession.session.once('close', () => r()));

    const config = await readFile(d.configPath, 'utf8');
    await writeFile(d.configPath, config.replace('allowed_sans = ["URI:spiffe://coracle/robot"]', 'allowed_sans = []'));
    d.proc.kill('SIGHUP');
    await logged(d, /"closedConnections":1,.*"message":"remote: allow-lists reloaded"/);
    await robotClosed;
    const err = await codeOf(versionAs(port, ca, robot));
    assert.equal(err.code, grpc.status.PERMISSION_DENIED, err.details);
    assert.equal((await adminSession.version()).status, '0', 'the client still listed keeps its connection');

    // A config that does not load: logged, and the lists in force stay.
    await writeFile(d.configPath, config.replace('allowed_sans = ["URI:spiffe://coracle/robot"]', 'allowed_sans = ["IP:300.1.1.1"]'));
    d.proc.kill('SIGHUP');
    await logged(d, /"error":".*not an IP address.*"level":"error","message":"remote: rereading the config failed; the allow-lists stay as they were"/);
    assert.equal((await codeOf(versionAs(port, ca, robot))).code, grpc.status.PERMISSION_DENIED);
    assert.match(await versionAs(port, ca, admin), /coracle/);
    assert.equal(d.proc.exitCode, null);
  });
});
