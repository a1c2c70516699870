import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pty from 'node-pty';
import { onCleanup } from '../helpers/cleanup.js';
import type { CliResult } from '../helpers/cli.js';
import { CORACLE_BIN, startTestDaemon, tempDir } from '../helpers/daemon.js';
import { buildImage, buildLayer, busyboxRootfsEntries, pushImage, type BuiltImage } from '../helpers/images.js';
import { startTestRegistry, type TestRegistry } from '../helpers/test-registry.js';
import { startTokenServer } from '../helpers/token-server.js';

const USER = 'alice';
// Unique, so that finding it anywhere in a log means the log leaked it.
const PASSWORD = 'Pw-5c1e9b77-do-not-log';
const AUTH = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');

/** The CLI with $DOCKER_CONFIG at `configDir`, `input` on its standard input (none: closed). */
function coracleIn(configDir: string, args: string[], input?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const env = { ...process.env, DOCKER_CONFIG: configDir };
    const child = execFile(process.execPath, [CORACLE_BIN, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;
const readJson = async (path: string): Promise<Record<string, unknown>> => JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;

/** Neither the password nor its base64 form anywhere in `text`. */
function noSecret(text: string, who: string): void {
  assert.ok(!text.includes(PASSWORD), `${who} shows the password`);
  assert.ok(!text.includes(AUTH), `${who} shows the base64 auth`);
}

describe('cli: login and logout (docker config file)', function () {
  this.timeout(120_000);
  let registry: TestRegistry; // htpasswd: alice / PASSWORD
  before(async () => {
    registry = await startTestRegistry({ users: { [USER]: PASSWORD }, scope: 'suite' });
  });
  after(async () => {
    await registry?.stop();
  });

  it('--password-stdin: verified against the registry, saved as base64 user:password, file 0600 in a new dir 0700', async () => {
    const dir = join(await tempDir(), 'docker'); // absent: login makes it
    const r = await coracleIn(dir, ['login', registry.host, '-u', USER, '--password-stdin'], `${PASSWORD}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Login Succeeded\n');
    assert.match(r.stderr, /WARNING! Your password will be stored unencrypted in .*config\.json/);
    noSecret(r.stdout + r.stderr, 'the CLI');
    const file = join(dir, 'config.json');
    assert.deepEqual(await readJson(file), { auths: { [registry.host]: { auth: AUTH } } });
    assert.equal(await modeOf(file), 0o600);
    assert.equal(await modeOf(dir), 0o700);
  });

  it('a wrong password is refused by the registry: exit 1, nothing written; an existing file stays as it was', async () => {
    const dir = await tempDir();
    const bad = await coracleIn(dir, ['login', registry.host, '-u', USER, '--password-stdin'], 'wrong-password\n');
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /coracle: login to 127\.0\.0\.1:\d+: unauthorized: incorrect username or password/);
    assert.ok(!bad.stderr.includes('wrong-password'));
    await assert.rejects(stat(join(dir, 'config.json')), { code: 'ENOENT' });
    const before = JSON.stringify({ auths: { [registry.host]: { auth: 'b2xkOm9sZA==' } } });
    await writeFile(join(dir, 'config.json'), before, { mode: 0o600 });
    assert.equal((await coracleIn(dir, ['login', registry.host, '-u', USER, '-p', 'wrong-password'])).code, 1);
    assert.equal(await readFile(join(dir, 'config.json'), 'utf8'), before);
  });

  it('merges into an existing file, keeping its other keys and entries, and makes it 0600; logout removes only its entry', async () => {
    const dir = await tempDir();
    const file = join(dir, 'config.json');
    const other = { auths: { 'other.example:5000': { auth: 'dTpw' } }, credsStore: 'desktop', psFormat: 'table {{.ID}}', proxies: { default: { httpProxy: 'http://127.0.0.1:3128' } } };
    await writeFile(file, JSON.stringify(other), { mode: 0o644 });
    const r = await coracleIn(dir, ['login', `http://${registry.host}/`, '-u', USER, '-p', PASSWORD]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /WARNING! Using --password via the CLI is insecure\. Use --password-stdin\./);
    assert.match(r.stderr, /credential helpers \(credsStore, credHelpers\): coracle does not run them/);
    assert.deepEqual(await readJson(file), { ...other, auths: { ...other.auths, [registry.host]: { auth: AUTH } } });
    assert.equal(await modeOf(file), 0o600);

    const out = await coracleIn(dir, ['logout', registry.host]);
    assert.deepEqual([out.code, out.stdout], [0, `Removing login credentials for ${registry.host}\n`], out.stderr);
    assert.deepEqual(await readJson(file), other);
    const again = await coracleIn(dir, ['logout', registry.host]);
    assert.deepEqual([again.code, again.stdout], [0, `Not logged in to ${registry.host}\n`], again.stderr);
    const hub = await coracleIn(dir, ['logout']);
    assert.deepEqual([hub.code, hub.stdout], [0, 'Not logged in to https://index.docker.io/v1/\n'], hub.stderr);
  });

  it('usage: -p with --password-stdin, --password-stdin without -u (exit 2); no terminal to prompt on (exit 1)', async () => {
    const dir = await tempDir();
    const both = await coracleIn(dir, ['login', registry.host, '-u', USER, '-p', 'x', '--password-stdin'], 'x\n');
    assert.deepEqual([both.code, both.stderr], [2, 'coracle: login: --password and --password-stdin are mutually exclusive\n']);
    const noUser = await coracleIn(dir, ['login', registry.host, '--password-stdin'], 'x\n');
    assert.deepEqual([noUser.code, noUser.stderr], [2, 'coracle: login: must provide --username with --password-stdin\n']);
    const noTty = await coracleIn(dir, ['login', registry.host]);
    assert.deepEqual([noTty.code, noTty.stderr], [1, 'coracle: Cannot perform an interactive login from a non TTY device\n']);
    await assert.rejects(stat(join(dir, 'config.json')), { code: 'ENOENT' });
  });

  it('on a terminal: asks for what is missing, the password not echoed; then reuses the saved credentials', async () => {
    const dir = await tempDir();
    const onTerminal = async (args: string[], answers: [RegExp, string][]): Promise<{ code: number; output: string }> => {
      const p = pty.spawn(process.execPath, [CORACLE_BIN, ...args], { cols: 100, rows: 30, env: { ...(process.env as Record<string, string>), DOCKER_CONFIG: dir } });
      onCleanup('kill the terminal', () => p.kill());
      let output = '';
      let next = 0;
      p.onData((s) => {
        output += s;
        const a = answers[next];
        if (a && a[0].test(output)) {
          next++;
          p.write(`${a[1]}\r`);
        }
      });
      const code = await new Promise<number>((resolve) => p.onExit(({ exitCode }) => resolve(exitCode)));
      return { code, output };
    };
    const first = await onTerminal(['login', registry.host], [[/Username: /, USER], [/Password: /, PASSWORD]]);
    assert.equal(first.code, 0, first.output);
    assert.match(first.output, /Login Succeeded/);
    noSecret(first.output, 'the terminal');
    assert.deepEqual(await readJson(join(dir, 'config.json')), { auths: { [registry.host]: { auth: AUTH } } });
    const second = await onTerminal(['login', registry.host], []);
    assert.equal(second.code, 0, second.output);
    assert.match(second.output, /Authenticating with existing credentials\.\.\. \[Username: alice\]\r?\nLogin Succeeded/);
  });

  it('a registry behind a token server (Bearer): the realm takes the credentials or refuses them', async () => {
    const tokens = await startTokenServer({ bob: 'hunter2' });
    const tokenRegistry = await startTestRegistry({ token: tokens });
    // The token server fronts the registry: /v2/ there names a realm on the same host:port.
    tokens.front(tokenRegistry.url);
    const dir = await tempDir();
    const bad = await coracleIn(dir, ['login', tokens.host, '-u', 'bob', '--password-stdin'], 'nope\n');
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /unauthorized: incorrect username or password \(the token realm answered 401\)/);
    const good = await coracleIn(dir, ['login', tokens.host, '-u', 'bob', '--password-stdin'], 'hunter2\n');
    assert.equal(good.code, 0, good.stderr);
    assert.deepEqual(await readJson(join(dir, 'config.json')), { auths: { [tokens.host]: { auth: Buffer.from('bob:hunter2').toString('base64') } } });
  });
});

describe('cli: pull and run send the saved credentials; no secret in any log', function () {
  this.timeout(180_000);
  let registry: TestRegistry;
  let image: BuiltImage;
  before(async () => {
    registry = await startTestRegistry({ users: { [USER]: PASSWORD }, scope: 'suite' });
    const base = await buildLayer(await busyboxRootfsEntries());
    image = buildImage({ layers: [base], config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
    await pushImage(registry.url, 'private/busybox', image, ['v1', 'v2'], { username: USER, password: PASSWORD });
  });
  after(async () => {
    await registry?.stop();
  });

  it('pull and run fail before login (pull access denied) and work after it, the daemon at debug level logging no secret', async () => {
    const d = await startTestDaemon({ network: true, clusterNetwork: true, mirrors: { [registry.host]: registry.url } });
    const dir = await tempDir();
    await mkdir(dir, { recursive: true });
    const cli = (...args: string[]): Promise<CliResult> => coracleIn(dir, ['-H', `unix://${d.socket}`, ...args]);
    const outputs: string[] = [];
    const ran = async (...args: string[]): Promise<CliResult> => {
      const r = await cli(...args);
      outputs.push(r.stdout, r.stderr);
      return r;
    };
    const v1 = `${registry.host}/private/busybox:v1`;
    const v2 = `${registry.host}/private/busybox:v2`;

    const denied = await ran('pull', v1);
    assert.equal(denied.code, 1, denied.stderr);
    assert.match(denied.stderr, new RegExp(`pull access denied for ${v1.replace(/\./g, '\\.')}, repository does not exist or may require 'coracle login': .*HTTP 401 \\(authentication required\\)`));
    const runDenied = await ran('run', v2, 'echo', 'never');
    assert.equal(runDenied.code, 125, runDenied.stderr);
    assert.match(runDenied.stderr, /pull access denied for .*private\/busybox:v2/);
    assert.equal((await d.clients.image.ListImages({})).images.length, 0);

    const login = await coracleIn(dir, ['login', registry.host, '-u', USER, '--password-stdin'], `${PASSWORD}\n`);
    outputs.push(login.stdout, login.stderr);
    assert.equal(login.code, 0, login.stderr);

    const pulled = await ran('pull', v1);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.match(pulled.stdout, new RegExp(`Status: pulled .*\\n${image.configDigest}\\n$`));
    const run = await ran('run', v2, 'echo', 'private image ran');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'private image ran\n');

    for (const [i, text] of outputs.entries()) noSecret(text, `CLI output ${i}`);
    const log = d.lines.join('\n');
    assert.ok(d.lines.some((l) => l.includes('"level":"debug"')), 'the daemon logs at debug level');
    assert.ok(log.includes('PullImage'), 'the pulls were logged');
    noSecret(log, "the daemon's log");
  });
});
