import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unpackOnHost } from '../../src/cli/container-cp.js';
import { coracle, coracleBytes } from '../helpers/cli.js';
import { cliSuite } from '../helpers/cli.js';

type TarStream = typeof import('tar-stream');
const tarStream = createRequire(import.meta.url)('tar-stream') as TarStream;

/** A tar of `entries`, made here (what a hostile client or container could send). */
async function tarOf(entries: { name: string; type: 'file' | 'directory' | 'symlink'; content?: string; linkname?: string }[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const e of entries) {
    const header = { name: e.name, type: e.type, mode: e.type === 'directory' ? 0o755 : 0o644, ...(e.linkname ? { linkname: e.linkname } : {}) };
    await new Promise<void>((ok, fail) => {
      const cb = (err?: Error | null): void => (err ? fail(err) : ok());
      if (e.type === 'file') pack.entry(header, Buffer.from(e.content ?? ''), cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The names and types in a tar. */
async function entriesOf(tar: Buffer): Promise<string[]> {
  const extract = tarStream.extract();
  const names: string[] = [];
  const done = (async () => {
    for await (const e of extract) {
      names.push(`${e.header.type}:${e.header.name}`);
      e.resume();
    }
  })();
  extract.end(tar);
  await done;
  return names;
}

describe('cli: cp', function () {
  this.timeout(180_000);
  const t = cliSuite();
  let host: string;
  beforeEach(async () => {
    host = await mkdtemp(join(tmpdir(), 'coracle-cp-'));
  });
  afterEach(async () => {
    await rm(host, { recursive: true, force: true });
  });

  const sh = async (script: string): Promise<string> => {
    const r = await t.cli('exec', 'box', 'sh', '-c', script);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  it('copies a file and a directory out of and into a container, and a tar on stdout and stdin', async () => {
    const { cli, image, d } = t;
    assert.equal((await cli('run', '-d', '--name', 'box', image, 'sleep', '300')).code, 0);
    await sh('mkdir -p /data/sub && echo hello > /data/f && echo deep > /data/sub/g && ln -s f /data/link');
    assert.deepEqual(await cli('cp', 'box:/data/f', join(host, 'out')), { code: 0, stdout: '', stderr: '' });
    assert.equal(await readFile(join(host, 'out'), 'utf8'), 'hello\n');
    assert.equal((await cli('cp', 'box:/data', join(host, 'copy'))).code, 0);
    assert.deepEqual((await readdir(join(host, 'copy'))).sort(), ['f', 'link', 'sub']);
    assert.equal(await readFile(join(host, 'copy/sub/g'), 'utf8'), 'deep\n');
    assert.equal((await cli('cp', 'box:/data', host)).code, 0);
    assert.equal(await readFile(join(host, 'data/link'), 'utf8'), 'hello\n', 'the symlink is copied as a symlink, to f beside it');

    await mkdir(join(host, 'in/nested'), { recursive: true });
    await writeFile(join(host, 'in/nested/x'), 'from host\n');
    await writeFile(join(host, 'one'), 'single\n');
    assert.deepEqual(await cli('cp', join(host, 'one'), 'box:/tmp/renamed'), { code: 0, stdout: '', stderr: '' });
    assert.equal((await cli('cp', join(host, 'in'), 'box:/tmp')).code, 0);
    assert.equal(await sh('cat /tmp/renamed /tmp/in/nested/x'), 'single\nfrom host\n');

    const tar = await coracleBytes(d.socket, ['cp', 'box:/data/sub', '-']);
    assert.equal(tar.code, 0, tar.stderr);
    assert.deepEqual(await entriesOf(tar.stdout), ['directory:sub', 'file:sub/g']);
    const piped = await coracle(d.socket, ['cp', '-', 'box:/tmp'], await tarOf([{ name: 'p', type: 'directory' }, { name: 'p/q', type: 'file', content: 'piped' }]));
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(await sh('cat /tmp/p/q'), 'piped');
  });

  it("symlinks in the container resolve inside its root: a host file is neither read nor written, nothing is made outside", async () => {
    const { cli, image, d } = t;
    // A host directory with a secret, and a container whose /esc points at that host path.
    const secretDir = join(host, 'secret-dir');
    await mkdir(secretDir);
    await writeFile(join(secretDir, 'secret'), 'host only\n');
    assert.equal((await cli('run', '-d', '--name', 'box', image, 'sleep', '300')).code, 0);
    await sh(`ln -s ${secretDir} /esc && ln -s ${secretDir}/secret /esc-file && ln -s ../../../../.. /up`);

    // Out: the path resolves in the container, where the host's file is not.
    for (const src of ['/esc/secret', '/up' + secretDir + '/secret']) {
      const r = await cli('cp', `box:${src}`, join(host, 'stolen'));
      assert.equal(r.code, 1, `${src}: ${r.stdout}`);
      assert.match(r.stderr, /no such file or directory/i);
    }
    // The last component is copied as the symlink it is, not as what it points to.
    assert.equal((await cli('cp', 'box:/esc-file', join(host, 'link-copy'))).code, 0);
    assert.deepEqual((await readdir(host)).sort(), ['link-copy', 'secret-dir']);

    // In: through the container's symlink, into the container's own path.
    await writeFile(join(host, 'payload'), 'from cp\n');
    assert.equal((await cli('cp', join(host, 'payload'), 'box:/esc/secret')).code, 0);
    assert.equal((await cli('cp', join(host, 'payload'), 'box:/up' + secretDir + '/secret2')).code, 0);
    // A tar whose own symlink points out, then a file through it; and one that climbs with "..".
    const hostile = await tarOf([{ name: 'evil', type: 'directory' }, { name: 'evil/out', type: 'symlink', linkname: secretDir }, { name: 'evil/out/secret3', type: 'file', content: 'through the tar' }]);
    const r = await coracle(d.socket, ['cp', '-', 'box:/tmp'], hostile);
    assert.equal(r.code, 0, r.stderr);
    const climb = await coracle(d.socket, ['cp', '-', 'box:/tmp'], await tarOf([{ name: '../../../../../' + secretDir.slice(1) + '/secret4', type: 'file', content: 'climbed' }]));
    assert.equal(climb.code, 1);
    assert.match(climb.stderr, /leaves the destination/);

    assert.equal(await readFile(join(secretDir, 'secret'), 'utf8'), 'host only\n');
    assert.deepEqual(await readdir(secretDir), ['secret'], 'nothing written beside it on the host');
    assert.equal(await sh(`cat ${secretDir}/secret ${secretDir}/secret2 ${secretDir}/secret3`), 'from cp\nfrom cp\nthrough the tar');
  });

  it('on the host, a tar from the container is never written through its own symlinks nor above the destination', async () => {
    const secretDir = join(host, 'secret-dir');
    await mkdir(secretDir);
    await writeFile(join(secretDir, 'secret'), 'host only\n');
    await mkdir(join(host, 'dest'));
    async function* once(b: Buffer): AsyncGenerator<Buffer> {
      yield b;
    }
    const through = await tarOf([{ name: 'd', type: 'directory' }, { name: 'd/l', type: 'symlink', linkname: secretDir }, { name: 'd/l/secret', type: 'file', content: 'overwritten' }]);
    await assert.rejects(unpackOnHost(once(through), join(host, 'dest')), /d\/l\/secret.*d\/l is not a directory/);
    // The symlink early in the path: `x` -> the secret's parent, then x/sub/f (sub a real dir there).
    await mkdir(join(host, 'parent-of-secret', 'sub'), { recursive: true });
    const deep = await tarOf([{ name: 'x', type: 'symlink', linkname: join(host, 'parent-of-secret') }, { name: 'x/sub/f', type: 'file', content: 'escaped' }]);
    await mkdir(join(host, 'dest3'));
    await assert.rejects(unpackOnHost(once(deep), join(host, 'dest3')), /x\/sub\/f.*x is not a directory/);
    assert.deepEqual(await readdir(join(host, 'parent-of-secret', 'sub')), [], 'nothing written through a symlink early in the path');
    const fileLink = await tarOf([{ name: 'd', type: 'directory' }, { name: 'd/f', type: 'symlink', linkname: join(secretDir, 'secret') }, { name: 'd/f', type: 'file', content: 'overwritten' }]);
    await unpackOnHost(once(fileLink), join(host, 'dest2'));
    const climb = await tarOf([{ name: '../secret-dir/secret', type: 'file', content: 'overwritten' }]);
    await assert.rejects(unpackOnHost(once(climb), join(host, 'dest')), /leaves the destination/);
    assert.equal(await readFile(join(secretDir, 'secret'), 'utf8'), 'host only\n');
    assert.deepEqual(await readdir(secretDir), ['secret']);
    assert.equal(await readFile(join(host, 'dest2/f'), 'utf8'), 'overwritten', 'a file over a symlink the tar made replaces the symlink, not its target');
  });

  it('errors: an unknown container or path (exit 1); two local or two container paths, a relative container path (exit 2)', async () => {
    const { cli, image } = t;
    assert.equal((await cli('run', '-d', '--name', 'box', image, 'sleep', '300')).code, 0);
    assert.deepEqual(await cli('cp', 'nosuch:/etc/hostname', host), { code: 1, stdout: '', stderr: 'coracle: no such container: nosuch\n' });
    const missing = await cli('cp', 'box:/no/such', join(host, 'x'));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such file or directory/);
    const local = await cli('cp', join(host, 'nothing'), 'box:/tmp');
    assert.deepEqual([local.code, local.stderr], [1, `coracle: cp: ${join(host, 'nothing')}: no such file or directory\n`]);
    for (const args of [[host, join(host, 'y')], ['box:/a', 'box:/b'], ['box:etc', host]]) {
      const r = await cli('cp', ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
    assert.deepEqual(await readdir(host), []);
  });
});
