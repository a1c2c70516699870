import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, symlink, utimes, writeFile, chmod, lchown, link } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { unpackLayer } from '../../src/image/unpack.js';
import { lgetxattr, llistxattr, lsetxattr, mknod, S_IFCHR, S_IFIFO } from '../../src/util/fs-syscalls.js';
import { DEFAULT_ACL, DEFAULT_ACL_XATTR, setDefaultAcl } from '../helpers/acl.js';
import { tempDir } from '../helpers/daemon.js';
import { buildLayer, type LayerEntry } from '../helpers/images.js';

/** Everything a layer must keep of a tree, per path: compared between source and unpack. */
async function describeTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const inodes = new Map<number, string>();
  async function walk(rel: string): Promise<void> {
    const abs = rel ? join(root, rel) : root;
    for (const name of (await readdir(abs)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(root, path));
      const xattrs = llistxattr(join(root, path))
        .filter((x) => !x.startsWith('security.selinux'))
        .sort()
        .map((x) => `${x}=${lgetxattr(join(root, path), x).toString('hex')}`);
      let kind: string;
      if (st.isSymbolicLink()) kind = `link->${await readlink(join(root, path))}`;
      else if (st.isDirectory()) kind = 'dir';
      else if (st.isFile()) kind = `file:${createHash('sha256').update(await readFile(join(root, path))).digest('hex').slice(0, 12)}`;
      else if (st.isFIFO()) kind = 'fifo';
      else kind = `dev:${st.rdev}`;
      const linked = st.isFile() && st.nlink > 1 ? (inodes.get(st.ino) ?? (inodes.set(st.ino, path), path)) : '';
      const mode = st.isSymbolicLink() ? '' : (st.mode & 0o7777).toString(8);
      const mtime = st.isDirectory() ? '' : String(Math.floor(st.mtimeMs / 1000));
      out[path] = [kind, mode, `${st.uid}:${st.gid}`, mtime, linked, ...xattrs].join(' ');
      if (st.isDirectory()) await walk(path);
    }
  }
  await walk('');
  return out;
}

async function sourceTree(dir: string): Promise<void> {
  const long = 'd'.repeat(60) + '/' + 'e'.repeat(70);
  await mkdir(join(dir, long), { recursive: true });
  await writeFile(join(dir, long, 'f'.repeat(90)), 'deep and long\n');
  await writeFile(join(dir, 'big-uid'), 'x');
  await lchown(join(dir, 'big-uid'), 3_000_000, 3_000_001);
  await writeFile(join(dir, 'suid'), '#!/bin/sh\n');
  await chmod(join(dir, 'suid'), 0o4755);
  await mkdir(join(dir, 'sticky'));
  await chmod(join(dir, 'sticky'), 0o1777);
  await writeFile(join(dir, 'sgid'), '');
  await lchown(join(dir, 'sgid'), 0, 50);
  await chmod(join(dir, 'sgid'), 0o2750);
  await writeFile(join(dir, 'caps'), 'binary');
  lsetxattr(join(dir, 'caps'), 'security.capability', Buffer.from('0100000200040000000000000000000000000000', 'hex'));
  lsetxattr(join(dir, 'caps'), 'user.bin', Buffer.from([0x00, 0xff, 0x80, 0x0a, 0x3d]));
  await link(join(dir, 'caps'), join(dir, 'caps-hardlink'));
  await symlink('../outside/target', join(dir, 'dangling'));
  await symlink(long, join(dir, 'to-long'));
  mknod(join(dir, 'fifo'), S_IFIFO | 0o640);
  mknod(join(dir, 'null'), S_IFCHR | 0o666, 1, 3);
  mknod(join(dir, 'bigdev'), S_IFCHR | 0o600, 300, 70000);
  await writeFile(join(dir, 'old'), 'old');
  await utimes(join(dir, 'old'), new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
  await writeFile(join(dir, 'big'), Buffer.alloc(3 << 20, 7));
}

async function unpackInto(blob: Buffer, parents: string[] = []): Promise<{ dir: string; result: Awaited<ReturnType<typeof unpackLayer>> }> {
  const work = await tempDir();
  await writeFile(join(work, 'blob'), blob);
  await mkdir(join(work, 'fs'));
  const result = await unpackLayer({ blob: join(work, 'blob'), target: join(work, 'fs'), parents, lowerComplete: true });
  return { dir: join(work, 'fs'), result };
}

describe('image/unpack', function () {
  this.timeout(30_000);

  for (const format of ['gnu', 'posix'] as const) {
    it(`keeps everything GNU tar (--format=${format}) puts in a layer`, async () => {
      const src = join(await tempDir(), 'src');
      await mkdir(src);
      await sourceTree(src);
      const tar = execFileSync('tar', ['--create', `--format=${format}`, '--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', src, '.'], { maxBuffer: 64 << 20 });
      const { dir, result } = await unpackInto(gzipSync(tar));
      assert.equal(result.diffId, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
      const want = await describeTree(src);
      assert.match(want['caps']!, /security\.capability=0100000200040000.* user\.bin=00ff800a3d/, 'the fixture has its xattrs');
      assert.match(want['big-uid']!, / 3000000:3000001 /);
      assert.deepEqual(await describeTree(dir), want);
    });
  }

  it('turns OCI whiteouts into overlayfs ones', async () => {
    const layer = await buildLayer([
      { type: 'whiteout', path: 'etc/gone' },
      { type: 'opaque', path: 'var/cache' },
      { type: 'file', path: 'var/cache/kept', content: 'k' },
    ]);
    const { dir } = await unpackInto(layer.blob);
    const wh = await lstat(join(dir, 'etc/gone'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0);
    assert.equal(lgetxattr(join(dir, 'var/cache'), 'trusted.overlay.opaque').toString(), 'y');
    assert.deepEqual(await readdir(join(dir, 'var/cache')), ['kept']);
  });

  it('later entries replace earlier ones, a dir replaces a file and the other way round', async () => {
    const layer = await buildLayer([
      { type: 'file', path: 'a', content: 'first' },
      { type: 'file', path: 'a', content: 'second' },
      { type: 'file', path: 'b', content: 'file' },
      { type: 'dir', path: 'b' },
      { type: 'file', path: 'b/in', content: 'x' },
      { type: 'dir', path: 'c' },
      { type: 'file', path: 'c/in', content: 'x' },
      { type: 'symlink', path: 'c', target: 'a' },
    ]);
    const { dir } = await unpackInto(layer.blob);
    assert.equal(await readFile(join(dir, 'a'), 'utf8'), 'second');
    assert.deepEqual(await readdir(join(dir, 'b')), ['in']);
    assert.equal(await readlink(join(dir, 'c')), 'a');
  });

  // The writer keeps a hardlink target it found for the links after it: a target written over,
  // or made a symlink out of the layer, is looked up again.
  it('hardlinks to a target that later entries replace link to what is there then', async () => {
    const layer = await buildLayer([
      { type: 'dir', path: 'bin' },
      { type: 'file', path: 'bin/busybox', content: 'first' },
      { type: 'hardlink', path: 'bin/sh', target: 'bin/busybox' },
      { type: 'file', path: 'bin/busybox', content: 'second' },
      { type: 'hardlink', path: 'bin/ls', target: 'bin/busybox' },
      { type: 'symlink', path: 'bin/busybox', target: '/etc/passwd' },
      { type: 'hardlink', path: 'bin/cat', target: 'bin/busybox' },
    ]);
    const { dir } = await unpackInto(layer.blob);
    assert.equal(await readFile(join(dir, 'bin/sh'), 'utf8'), 'first');
    assert.equal(await readFile(join(dir, 'bin/ls'), 'utf8'), 'second');
    // linkat does not follow: bin/cat is the symlink itself, not the host's file.
    const [busybox, cat] = [await lstat(join(dir, 'bin/busybox')), await lstat(join(dir, 'bin/cat'))];
    assert.ok(cat.isSymbolicLink());
    assert.equal(cat.ino, busybox.ino);
    assert.equal(await readlink(join(dir, 'bin/cat')), '/etc/passwd');
  });

  it('sets owners and modes the kernel did not give by itself: a setgid dir\'s group, modes the umask or a default ACL narrows', async () => {
    const files = (dir: string): LayerEntry[] => [
      { type: 'file', path: `${dir}/root-owned`, content: 'a', mode: 0o644 },
      { type: 'file', path: `${dir}/dir-group`, content: 'b', mode: 0o755, gid: 50 },
      { type: 'file', path: `${dir}/all-write`, content: 'c', mode: 0o666 },
      { type: 'file', path: `${dir}/setuid`, content: 'd', mode: 0o4750, uid: 7, gid: 8 },
      { type: 'file', path: `${dir}/empty`, content: '', mode: 0o640, uid: 7 },
    ];
    const layer = await buildLayer([
      { type: 'dir', path: 'sgid', mode: 0o2775, gid: 50 },
      ...files('sgid'),
      { type: 'dir', path: 'acl', mode: 0o755, xattrs: { [DEFAULT_ACL_XATTR]: DEFAULT_ACL } },
      ...files('acl'),
    ]);
    const work = await tempDir();
    await writeFile(join(work, 'blob'), layer.blob);
    for (const [target, aclOnRoot] of [['plain', false], ['acl-root', true]] as const) {
      await mkdir(join(work, target));
      if (aclOnRoot) setDefaultAcl(join(work, target));
      await unpackLayer({ blob: join(work, 'blob'), target: join(work, target), parents: [], lowerComplete: true });
      for (const dir of ['sgid', 'acl']) {
        const got: string[] = [];
        for (const f of ['root-owned', 'dir-group', 'all-write', 'setuid', 'empty']) {
          const st = await lstat(join(work, target, dir, f));
          got.push(`${f} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`);
        }
        assert.deepEqual(got, ['root-owned 644 0:0', 'dir-group 755 0:50', 'all-write 666 0:0', 'setuid 4750 7:8', 'empty 640 7:0'], `${target}/${dir}`);
      }
    }
  });

  const regroups: { name: string; entries: LayerEntry[]; want: Record<string, string> }[] = [
    {
      name: 'a directory made setgid by a second entry',
      entries: [
        { type: 'dir', path: 'd', mode: 0o755 },
        { type: 'file', path: 'd/a', content: 'a' },
        { type: 'dir', path: 'd', mode: 0o2775, gid: 50 },
        { type: 'file', path: 'd/b', content: 'b' },
        { type: 'file', path: 'd/c', content: 'c', gid: 50 },
      ],
      want: { 'd/a': '0:0', 'd/b': '0:0', 'd/c': '0:50' },
    },
    {
      name: 'a directory replaced by a symlink to another',
      entries: [
        { type: 'dir', path: 'd', mode: 0o2775, gid: 50 },
        { type: 'dir', path: 'e', mode: 0o755 },
        { type: 'file', path: 'd/a', content: 'a', gid: 50 },
        { type: 'symlink', path: 'd', target: 'e' },
        { type: 'file', path: 'd/b', content: 'b', gid: 50 },
      ],
      want: { 'e/b': '0:50' },
    },
    {
      name: "root's file in a directory of another group, not setgid",
      entries: [
        { type: 'dir', path: 'home/user', mode: 0o770, uid: 1000, gid: 1000 },
        { type: 'file', path: 'home/user/secret', content: 's', mode: 0o660 },
      ],
      want: { 'home/user/secret': '0:0' },
    },
  ];
  for (const t of regroups) {
    it(`each file gets its header's group: ${t.name}`, async () => {
      const { dir } = await unpackInto((await buildLayer(t.entries)).blob);
      for (const [path, owner] of Object.entries(t.want)) {
        const st = await lstat(join(dir, path));
        assert.equal(`${st.uid}:${st.gid}`, owner, path);
      }
    });
  }

  it('copies a lower layer file up for a hardlink to it', async () => {
    const lower = await unpackInto((await buildLayer([{ type: 'file', path: 'usr/bin/tool', content: 'tool', mode: 0o751, uid: 7 }])).blob);
    const { dir } = await unpackInto((await buildLayer([{ type: 'hardlink', path: 'usr/bin/alias', target: 'usr/bin/tool' }])).blob, [lower.dir]);
    const [tool, alias] = [await lstat(join(dir, 'usr/bin/tool')), await lstat(join(dir, 'usr/bin/alias'))];
    assert.equal(tool.ino, alias.ino);
    assert.equal(tool.mode & 0o7777, 0o751);
    assert.equal(tool.uid, 7);
    assert.equal(await readFile(join(dir, 'usr/bin/alias'), 'utf8'), 'tool');
  });

  it('a hardlink into a lower layer that may not be there yet asks to wait for it', async () => {
    const work = await tempDir();
    await writeFile(join(work, 'blob'), (await buildLayer([{ type: 'hardlink', path: 'alias', target: 'usr/bin/tool' }])).blob);
    await mkdir(join(work, 'fs'));
    await assert.rejects(unpackLayer({ blob: join(work, 'blob'), target: join(work, 'fs'), parents: [], lowerComplete: false }), /needs its lower layers$/);
  });

  const refused: [string, LayerEntry[], RegExp][] = [
    ['a path that climbs out', [{ type: 'file', path: 'a/../../x', content: '' }], /escapes the layer/],
    ['a hardlink that climbs out', [{ type: 'hardlink', path: 'x', target: '../etc/passwd' }], /escapes the layer/],
    ['a hardlink to nothing', [{ type: 'hardlink', path: 'x', target: 'nothing' }], /hardlink target "nothing" not found/],
    [
      'a hardlink to a target whited out after an earlier link to it',
      [{ type: 'file', path: 'bin/a', content: 'a' }, { type: 'hardlink', path: 'bin/b', target: 'bin/a' }, { type: 'whiteout', path: 'bin/a' }, { type: 'hardlink', path: 'bin/c', target: 'bin/a' }],
      /entry "bin\/c": hardlink target "bin\/a" not found/,
    ],
    ['a hardlink to a target made a directory after an earlier link to it', [{ type: 'file', path: 'a', content: 'a' }, { type: 'hardlink', path: 'b', target: 'a' }, { type: 'dir', path: 'a' }, { type: 'hardlink', path: 'c', target: 'a' }], /entry "c": hardlink to a directory/],
    ['a symlink loop used as a dir', [{ type: 'symlink', path: 'l1', target: 'l2' }, { type: 'symlink', path: 'l2', target: 'l1' }, { type: 'file', path: 'l1/x', content: '' }], /too many levels of symbolic links/],
    ['a bare whiteout', [{ type: 'file', path: 'dir/.wh.', content: '' }], /bad whiteout/],
  ];
  for (const [what, entries, message] of refused) {
    it(`refuses ${what}`, async () => {
      await assert.rejects(unpackInto((await buildLayer(entries)).blob), message);
    });
  }

  it('refuses a truncated or corrupt archive', async () => {
    const layer = await buildLayer([{ type: 'file', path: 'f', content: 'x'.repeat(5000) }], { compression: 'none' });
    await assert.rejects(unpackInto(layer.tar.subarray(0, 2048)), /unexpected end of archive/);
    const bad = Buffer.from(layer.tar);
    bad[0] = bad[0]! ^ 1;
    await assert.rejects(unpackInto(bad), /header checksum mismatch/);
  });
});
