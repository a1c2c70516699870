import assert from 'node:assert/strict';
import { closeSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoracleError } from '../../src/errors.js';
import { O_DIRECTORY, O_NOFOLLOW, O_PATH, O_RDONLY } from '../../src/util/at-syscalls.js';
import { mknod, S_IFCHR, S_IFIFO } from '../../src/util/fs-syscalls.js';
import { MAX_WALK_DEPTH, openInRoot, openRegularAt, readFileInRoot, removeAt, setOpenat2, walkInRoot } from '../../src/util/in-root.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/daemon.js';
import { deepTree, openFds } from '../helpers/deep-tree.js';
import { diff, makeDecoy, snapshot } from '../helpers/sentinel.js';

/** A root full of links that point out of it, and a decoy outside for them to hit. */
async function hostileRoot(): Promise<{ root: string; decoy: string }> {
  const work = await tempDir();
  const root = join(work, 'root');
  const decoy = join(work, 'decoy');
  mkdirSync(decoy);
  makeDecoy(decoy);
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'real/inner'), { recursive: true });
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  writeFileSync(join(root, 'real/inner/file'), 'inside\n');
  symlinkSync(decoy, join(root, 'abs'));
  symlinkSync('../../../../../../..' + decoy, join(root, 'climb'));
  symlinkSync('/real', join(root, 'r'));
  symlinkSync('r/inner', join(root, 'chain'));
  symlinkSync('loop2', join(root, 'loop1'));
  symlinkSync('loop1', join(root, 'loop2'));
  symlinkSync('/etc/passwd', join(root, 'etc/passwd-link'));
  symlinkSync(join(decoy, 'etc/passwd'), join(root, 'etc/out'));
  symlinkSync('/dev/zero', join(root, 'etc/zero'));
  mknod(join(root, 'etc/fifo'), S_IFIFO | 0o644);
  mkdirSync(join(root, 'dev'));
  mknod(join(root, 'dev/zero'), S_IFCHR | 0o666, 1, 5);
  symlinkSync('/dev/zero', join(root, 'etc/zero-in-root'));
  writeFileSync(join(root, 'etc/big'), Buffer.alloc((1 << 20) + 1, 0x41));
  return { root, decoy };
}

describe('util/in-root: bounds', () => {
  it('removes a tree deeper than PATH_MAX with one fd at a time', async () => {
    const root = await tempDir();
    const name = 'd'.repeat(40);
    deepTree(root, 1000, name);
    const fd = openSync(root, O_RDONLY | O_DIRECTORY);
    // Newest first: the tree goes (even if the test failed) before its root's fd is closed.
    onCleanup('close root', () => closeSync(fd));
    onCleanup('remove deep tree', () => removeAt(fd, name));
    const before = openFds();
    assert.equal(removeAt(fd, name), true);
    assert.equal(openFds(), before);
    assert.deepEqual(readdirSync(root), []);
  });

  it('opens for reading only regular files, looking at devices and FIFOs through O_PATH', async () => {
    const root = await tempDir();
    writeFileSync(join(root, 'file'), 'x');
    mknod(join(root, 'fifo'), S_IFIFO | 0o644);
    mknod(join(root, 'null'), S_IFCHR | 0o666, 1, 3);
    symlinkSync('file', join(root, 'link'));
    const fd = openSync(root, O_RDONLY | O_DIRECTORY);
    try {
      const f = openRegularAt(fd, 'file');
      assert.ok(f.fd !== undefined && f.st.isFile());
      closeSync(f.fd);
      assert.ok(openRegularAt(fd, 'fifo').st.isFIFO() && openRegularAt(fd, 'fifo').fd === undefined);
      assert.ok(openRegularAt(fd, 'null').st.isCharacterDevice() && openRegularAt(fd, 'null').fd === undefined);
      assert.ok(openRegularAt(fd, 'link').st.isSymbolicLink() && openRegularAt(fd, 'link').fd === undefined);
    } finally {
      closeSync(fd);
    }
  });
});

for (const walk of [false, true]) {
  describe(`util/in-root${walk ? ' (component walk, as without openat2)' : ''}`, () => {
    before(() => setOpenat2(!walk));
    after(() => setOpenat2(true));

    it('resolves symlinks as if the root were /: absolute ones from it, `..` stopping at it', async () => {
      const { root, decoy } = await hostileRoot();
      const before = snapshot(decoy);
      const rootFd = openSync(root, O_RDONLY | O_DIRECTORY);
      try {
        const ino = (rel: string, flags = O_PATH): number => {
          const fd = openInRoot(rootFd, rel, flags);
          try {
            return fstatSync(fd).ino;
          } finally {
            closeSync(fd);
          }
        };
        assert.equal(ino('chain/file'), statSync(join(root, 'real/inner/file')).ino);
        assert.equal(ino('etc/passwd-link'), statSync(join(root, 'etc/passwd')).ino);
        assert.equal(ino('real/inner/../../../../etc/passwd'), statSync(join(root, 'etc/passwd')).ino);
        assert.equal(ino('etc/passwd-link', O_PATH | O_NOFOLLOW), lstatSync(join(root, 'etc/passwd-link')).ino, 'O_NOFOLLOW: the link itself');
        for (const out of ['abs/file', 'climb/file', 'etc/out', 'abs', 'climb']) {
          assert.throws(() => ino(out), { code: 'ENOENT' }, `${out} stays inside`);
        }
        assert.throws(() => ino('loop1'), { code: 'ELOOP' });
        assert.throws(() => ino('etc/passwd/x'), { code: 'ENOTDIR' });
        const made = walkInRoot(rootFd, 'abs/new/dir', { flags: O_RDONLY | O_DIRECTORY, mkdir: true });
        closeSync(made.fd);
        assert.equal(made.path, `${decoy.slice(1)}/new/dir`);
        assert.ok(lstatSync(join(root, decoy, 'new/dir')).isDirectory(), 'made inside, where the link leads in the root');
      } finally {
        closeSync(rootFd);
      }
      assert.deepEqual(diff(before, snapshot(decoy)), []);
    });

    it('reads a small regular file inside the root, and refuses FIFOs, devices, huge files and loops by name', async () => {
      const { root, decoy } = await hostileRoot();
      assert.equal((await readFileInRoot(root, 'etc/passwd', '/etc/passwd'))?.toString(), 'root:x:0:0::/root:/bin/sh\n');
      assert.equal((await readFileInRoot(root, 'etc/passwd-link', '/etc/passwd'))?.toString(), 'root:x:0:0::/root:/bin/sh\n');
      // Links out of the root resolve inside it, where there is nothing: as if absent.
      assert.equal(await readFileInRoot(root, 'etc/out', '/etc/out'), undefined);
      assert.equal(await readFileInRoot(root, 'abs/file', '/abs/file'), undefined);
      assert.equal(await readFileInRoot(root, 'nothing', '/nothing'), undefined);
      const refused = async (rel: string, message: RegExp): Promise<void> => {
        await assert.rejects(readFileInRoot(root, rel, `/${rel} in the image`), (err: unknown) => {
          assert.ok(err instanceof CoracleError);
          assert.equal(err.code, 'FAILED_PRECONDITION');
          assert.match(err.message, new RegExp(`^/${rel} in the image: ${message.source}`));
          return true;
        });
      };
      await refused('etc/fifo', /not a regular file \(a FIFO\)/);
      await refused('etc/zero-in-root', /not a regular file \(a character device\)/);
      await refused('etc/big', /1048577 bytes, more than the 1048576 allowed/);
      await refused('loop1', /too many levels of symbolic links/);
      await refused('etc', /not a regular file \(a directory\)/);
      await refused('etc/passwd/x', /a parent is not a directory/);
      // /dev/zero through a link: the root's own dev/zero, a device, refused. Without one there: absent.
      await refused('etc/zero', /not a regular file \(a character device\)/);
      assert.equal((await readFileInRoot(root, 'etc/passwd', 'p', 26))?.length, 26, 'up to the cap is fine');
      await assert.rejects(readFileInRoot(root, 'etc/passwd', 'p', 25), /^CoracleError: p: 26 bytes, more than the 25 allowed$/);
      assert.deepEqual(readdirSync(decoy).sort(), ['etc', 'file', 'keep', 'sub']);
    });

    it(`refuses a path over ${MAX_WALK_DEPTH} directories deep (ENAMETOOLONG), holding no fd after`, async () => {
      const root = await tempDir();
      deepTree(root, MAX_WALK_DEPTH + 2, 'd');
      const fd = openSync(root, O_RDONLY | O_DIRECTORY);
      try {
        const before = openFds();
        const deep = Array.from({ length: MAX_WALK_DEPTH + 2 }, () => 'd').join('/');
        if (walk) assert.throws(() => openInRoot(fd, deep, O_PATH), /ENAMETOOLONG/);
        assert.throws(() => walkInRoot(fd, deep, { flags: O_PATH }), /ENAMETOOLONG/);
        const ok = walkInRoot(fd, deep.slice(0, MAX_WALK_DEPTH * 2 - 1), { flags: O_PATH });
        closeSync(ok.fd);
        assert.equal(openFds(), before);
      } finally {
        closeSync(fd);
      }
    });

    it('removes a tree holding links out without following them', async () => {
      const { root, decoy } = await hostileRoot();
      const before = snapshot(decoy);
      const fd = openSync(root, O_RDONLY | O_DIRECTORY);
      try {
        for (const name of readdirSync(root)) assert.equal(removeAt(fd, name), true);
        assert.equal(removeAt(fd, 'gone'), false);
      } finally {
        closeSync(fd);
      }
      assert.deepEqual(readdirSync(root), []);
      assert.deepEqual(diff(before, snapshot(decoy)), []);
    });
  });
}
