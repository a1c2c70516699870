import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { CORACLE_BIN, spawnCoracle, startTestDaemon, tempDir, writeTestConfig } from '../helpers/daemon.js';
import { TestPki } from '../helpers/pki.js';
import { grpcHeaders, rawGrpcCall } from '../helpers/raw-h2-client.js';
import { freePort } from '../helpers/test-registry.js';

const run = promisify(execFile);

/** A CA, and certificates it signs (the server's for 127.0.0.1), made with openssl. */
async function makePki(dir: string): Promise<(name: string) => { cert: string; key: string }> {
  const pki = new TestPki(dir);
  await pki.ca('ca');
  await pki.ca('rogue-ca');
  await pki.signed('server', 'ca', 'IP:127.0.0.1');
  await pki.signed('client', 'ca', 'DNS:client');
  await pki.signed('rogue', 'rogue-ca', 'DNS:rogue');
  return (name) => pki.files(name);
}


describe('cri/listen: remote access over TCP, mutual TLS only', function () {
  this.timeout(60_000);

  it('serves the CLI with the right client certificate, refuses one another CA signed, and refuses to listen without TLS files', async () => {
    const dir = await tempDir();
    const pki = await makePki(dir);
    const port = await freePort();
    const server = pki('server');
    const remote = `[remote]\nlisten = "tcp://127.0.0.1:${port}"\nca = "${pki('ca').cert}"\ncert = "${server.cert}"\nkey = "${server.key}"\n`;
    const d = await startTestDaemon({ extra: remote });
    assert.ok(d.lines.some((l) => l.includes('serving over TCP with mutual TLS')));

    const cli = async (who: { cert: string; key: string } | undefined, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
      const tls = who ? ['--tlscacert', pki('ca').cert, '--tlscert', who.cert, '--tlskey', who.key] : [];
      try {
        const r = await run(process.execPath, [CORACLE_BIN, '-H', `tcp://127.0.0.1:${port}`, ...tls, ...args], { timeout: 30_000 });
        return { code: 0, ...r };
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    };
    const ok = await cli(pki('client'), 'version');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Server: coracle\n Version:\t\d/);
    assert.match((await cli(pki('client'), 'ps', '-a')).stdout, /^CONTAINER ID/);

    // Over TLS too, an authority Node's HTTP/2 server would refuse is served.
    const tls = tlsConnect({
      host: '127.0.0.1',
      port,
      ALPNProtocols: ['h2'],
      ca: await readFile(pki('ca').cert),
      cert: await readFile(pki('client').cert),
      key: await readFile(pki('client').key),
    });
    const raw = await rawGrpcCall(tls, grpcHeaders('/runtime.v1.RuntimeService/Version', '/run/coracle/coracle.sock'));
    assert.equal(raw.reset, undefined);
    assert.match(raw.data.toString('latin1'), /coracle/);

    const rogue = await cli(pki('rogue'), 'version');
    assert.notEqual(rogue.code, 0);
    assert.match(rogue.stderr, /cannot connect to the Coracle daemon at tcp:\/\/127\.0\.0\.1:\d+/);

    const bare = await cli(undefined, 'version');
    assert.match(bare.stderr, /mutual TLS only: give --tlscacert, --tlscert and --tlskey/);

    // Plain TCP is never served: a listener without its TLS files stops the daemon.
    const paths = await writeTestConfig(await tempDir(), { extra: `[remote]\nlisten = "tcp://127.0.0.1:${port + 1}"\n` });
    const refused = spawnCoracle(['--config', paths.configPath, 'serve']);
    const exit = await refused.exited;
    assert.notEqual(exit.code, 0);
    assert.match(refused.lines.join('\n'), /remote\.ca: a TCP listener is mutual TLS only/);
  });
});
