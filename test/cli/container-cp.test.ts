import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpTarget, unpackOnHost } from '../../src/cli/container-cp.js';
import type { DestKind } from '../../src/util/copy-target.js';
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

describe('cli: cp, where a copy lands (docker cp\'s rules)', () => {
  // [SRC as typed, SRC a directory, DEST as typed, what DEST is] → the target, or the refusal.
  const table: [string, boolean, string, DestKind, { dir: string; contents: boolean; rename?: string } | RegExp][] = [
    // SRC a file: saved as DEST, into DEST when a directory; a DEST ending in / must be one.
    ['/etc/hostname', false, '/o/out', 'missing', { dir: '/o', contents: false, rename: 'out' }],
    ['/etc/hostname', false, '/o/f', 'other', { dir: '/o', contents: false, rename: 'f' }],
    ['/etc/hostname', false, '/o/d', 'directory', { dir: '/o/d', contents: false }],
    ['/etc/hostname', false, '/o/d/', 'directory', { dir: '/o/d', contents: false }],
    ['f', false, '.', 'directory', { dir: '.', contents: false }],
    ['f', false, 'out', 'missing', { dir: '.', contents: false, rename: 'out' }],
    ['/etc/hostname', false, '/o/out/', 'missing', /^cp: \/o\/out\/: no such directory$/],
    ['/etc/hostname', false, '/o/f/', 'other', /^cp: \/o\/f\/: not a directory$/],
    ['/etc/hostname/', false, '/o/d', 'directory', /^cp: \/etc\/hostname\/: not a directory$/],
    ['/etc/hostname/.', false, '/o/d', 'directory', /not a directory/],
    // SRC a directory: DEST missing → made, the contents in it; DEST a directory → into it,
    // or only the contents with SRC/.; DEST a file → refused.
    ['/etc', true, '/o/new', 'missing', { dir: '/o/new', contents: true }],
    ['/etc/.', true, '/o/new', 'missing', { dir: '/o/new', contents: true }],
    ['/etc', true, '/o/d', 'directory', { dir: '/o/d', contents: false }],
    ['/etc/', true, '/o/d/', 'directory', { dir: '/o/d', contents: false }],
    ['/etc/.', true, '/o/d', 'directory', { dir: '/o/d', contents: true }],
    ['./dir/.', true, '/dst/.', 'directory', { dir: '/dst', contents: true }],
    ['.', true, '/dst/', 'directory', { dir: '/dst', contents: true }],
    ['dir/.', true, '/', 'directory', { dir: '/', contents: true }],
    ['/etc', true, '/o/f', 'other', /^cp: \/o\/f: cannot copy a directory to a file$/],
    ['/etc/.', true, '/o/f', 'other', /cannot copy a directory to a file/],
    // The container's root: what it holds, as `/.`.
    ['/', true, 'out', 'missing', { dir: 'out', contents: true }],
    ['/', true, '/o/d', 'directory', { dir: '/o/d', contents: true }],
    ['/.', true, '/o/d', 'directory', { dir: '/o/d', contents: true }],
    ['/', true, '/o/f', 'other', /cannot copy a directory to a file/],
  ];
  for (const [src, srcDir, dest, kind, want] of table) {
    it(`${src} (${srcDir ? 'a directory' : 'a file'}) to ${dest} (${kind})`, () => {
      if (want instanceof RegExp) assert.throws(() => cpTarget(src, srcDir, dest, kind), { message: want });
      else assert.deepEqual(cpTarget(src, srcDir, dest, kind), want);
    });
  }
});

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

    // A tar on stdin goes into DEST as it is (docker cp -): its `./` is DEST, its top entry
    // never renamed, and DEST must be a directory that exists.
    const dotted = await coracle(d.socket, ['cp', '-', 'box:/tmp/p'], await tarOf([{ name: './', type: 'directory' }, { name: './r', type: 'file', content: 'dotted' }]));
    assert.equal(dotted.code, 0, dotted.stderr);
    assert.equal(await sh('cat /tmp/p/r'), 'dotted');
    const single = await tarOf([{ name: 'solo', type: 'file', content: 'solo' }]);
    const missing = await coracle(d.socket, ['cp', '-', 'box:/tmp/absent'], single);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /\/tmp\/absent: no such directory/);
    const file = await coracle(d.socket, ['cp', '-', 'box:/tmp/p/q'], single);
    assert.equal(file.code, 1);
    assert.match(file.stderr, /\/tmp\/p\/q: not a directory/);
    assert.equal(await sh('cat /tmp/p/q; ls /tmp/absent 2>&1 >/dev/null | wc -l'), 'piped1\n', 'neither DEST was written');
  });

  it('SRC/. copies what a directory holds, both ways; CONTAINER:/ copies what the root holds', async () => {
    const { cli, image } = t;
    assert.equal((await cli('run', '-d', '--name', 'box', image, 'sleep', '300')).code, 0);
    await sh('mkdir -p /data/sub && echo hello > /data/f && echo deep > /data/sub/g && echo r > /rootmark');
    // Out, DEST missing: made, with what /data holds (as without /.).
    assert.deepEqual(await cli('cp', 'box:/data/.', join(host, 'made')), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual((await readdir(join(host, 'made'))).sort(), ['f', 'sub']);
    // Out, DEST a directory: /data/. puts what it holds there, /data puts itself there.
    await mkdir(join(host, 'there'));
    await writeFile(join(host, 'there/keep'), 'kept\n');
    assert.equal((await cli('cp', 'box:/data/.', join(host, 'there'))).code, 0);
    assert.equal((await cli('cp', 'box:/data', join(host, 'there'))).code, 0);
    assert.deepEqual((await readdir(join(host, 'there'))).sort(), ['data', 'f', 'keep', 'sub']);
    assert.equal(await readFile(join(host, 'there/sub/g'), 'utf8'), 'deep\n');
    assert.equal(await readFile(join(host, 'there/data/sub/g'), 'utf8'), 'deep\n');
    // A file is no directory: SRC/. of one, or a directory onto a file, is refused.
    const notDir = await cli('cp', 'box:/data/f/.', join(host, 'x'));
    assert.equal(notDir.code, 1);
    assert.match(notDir.stderr, /not a directory/);
    const ontoFile = await cli('cp', 'box:/data/.', join(host, 'there/keep'));
    assert.equal(ontoFile.code, 1);
    assert.match(ontoFile.stderr, /cannot copy a directory to a file/);
    // The whole root: what it holds, into DEST (made).
    assert.equal((await cli('cp', 'box:/', join(host, 'root'))).code, 0);
    assert.equal(await readFile(join(host, 'root/rootmark'), 'utf8'), 'r\n');
    assert.equal(await readFile(join(host, 'root/data/sub/g'), 'utf8'), 'deep\n');
    assert.ok((await readdir(join(host, 'root'))).includes('bin'));

    // In: ./in/. to a missing DEST (made) and to a directory there (what it holds, no `in`).
    await mkdir(join(host, 'in/nested'), { recursive: true });
    await writeFile(join(host, 'in/a'), 'A\n');
    await writeFile(join(host, 'in/nested/b'), 'B\n');
    assert.deepEqual(await cli('cp', join(host, 'in') + '/.', 'box:/tmp/made'), { code: 0, stdout: '', stderr: '' });
    await sh('mkdir /tmp/there && echo kept > /tmp/there/keep');
    assert.equal((await cli('cp', join(host, 'in') + '/.', 'box:/tmp/there')).code, 0);
    assert.equal((await cli('cp', join(host, 'in'), 'box:/tmp/there/')).code, 0);
    assert.equal(await sh('cd /tmp && ls made there && cat made/nested/b there/a there/in/nested/b'), 'made:\na\nnested\n\nthere:\na\nin\nkeep\nnested\nB\nA\nB\n');
    const inNotDir = await cli('cp', join(host, 'in/a') + '/.', 'box:/tmp');
    assert.equal(inNotDir.code, 1);
    assert.match(inNotDir.stderr, /not a directory/);
    const inOntoFile = await cli('cp', join(host, 'in') + '/.', 'box:/tmp/there/keep');
    assert.equal(inOntoFile.code, 1);
    assert.match(inOntoFile.stderr, /cannot copy a directory to a file/);
    const missingDir = await cli('cp', join(host, 'in/a'), 'box:/tmp/nosuch/');
    assert.equal(missingDir.code, 1);
    assert.match(missingDir.stderr, /no such directory/);
  });

  it('modes: a read-only directory gets its children and then its mode; a file written over takes the copied mode', async () => {
    const { cli, image } = t;
    const modeOf = async (p: string): Promise<number> => (await stat(p)).mode & 0o7777;
    assert.equal((await cli('run', '-d', '--name', 'box', image, 'sleep', '300')).code, 0);
    await sh('mkdir -p /ro/sub && echo x > /ro/sub/f && chmod 0600 /ro/sub/f && chmod 0555 /ro/sub && chmod 0500 /ro');
    // Out: the host already has ro/sub/f, 0644: it becomes 0600.
    await mkdir(join(host, 'dest/ro/sub'), { recursive: true });
    await writeFile(join(host, 'dest/ro/sub/f'), 'old\n', { mode: 0o644 });
    assert.deepEqual(await cli('cp', 'box:/ro', join(host, 'dest')), { code: 0, stdout: '', stderr: '' });
    assert.equal(await readFile(join(host, 'dest/ro/sub/f'), 'utf8'), 'x\n');
    assert.deepEqual([await modeOf(join(host, 'dest/ro')), await modeOf(join(host, 'dest/ro/sub')), await modeOf(join(host, 'dest/ro/sub/f'))], [0o500, 0o555, 0o600]);
    // A DEST made for SRC/. gets SRC's mode.
    assert.equal((await cli('cp', 'box:/ro/sub/.', join(host, 'made'))).code, 0);
    assert.equal(await modeOf(join(host, 'made')), 0o555);
    await chmod(join(host, 'dest/ro'), 0o755);
    await chmod(join(host, 'dest/ro/sub'), 0o755);

    // In: the same, the container's file there before 0644.
    await mkdir(join(host, 'src/ro/sub'), { recursive: true });
    await writeFile(join(host, 'src/ro/sub/f'), 'y\n', { mode: 0o640 });
    await chmod(join(host, 'src/ro/sub/f'), 0o640);
    await chmod(join(host, 'src/ro/sub'), 0o555);
    await chmod(join(host, 'src/ro'), 0o511);
    await sh('mkdir -p /in/ro/sub && echo old > /in/ro/sub/f && chmod 0644 /in/ro/sub/f');
    assert.deepEqual(await cli('cp', join(host, 'src/ro'), 'box:/in'), { code: 0, stdout: '', stderr: '' });
    assert.equal((await cli('cp', join(host, 'src/ro/sub') + '/.', 'box:/made')).code, 0);
    assert.equal(await sh('cat /in/ro/sub/f && stat -c %a /in/ro /in/ro/sub /in/ro/sub/f /made /made/f'), 'y\n511\n555\n640\n555\n640\n');
    await chmod(join(host, 'src/ro'), 0o755);
    await chmod(join(host, 'src/ro/sub'), 0o755);
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
