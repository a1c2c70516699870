import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DirSnapshotter } from '../../src/image/dir-snapshotter.js';
import { markTopDir } from '../../src/util/top-dir.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/daemon.js';

const run = promisify(execFile);

/** The attribute letters lsattr shows for the directory itself ('T' is FS_TOPDIR_FL). */
async function attrs(dir: string): Promise<string> {
  const { stdout } = await run('lsattr', ['-d', dir]);
  return stdout.split(/\s+/)[0]!;
}

/** The filesystem type of `dir`, as stat -f names it (ext2/ext3, tmpfs, xfs…). */
async function fsType(dir: string): Promise<string> {
  return (await run('stat', ['-f', '-c', '%T', dir])).stdout.trim();
}

describe('util/top-dir', () => {
  it('sets the T attribute on an ext4 directory, keeps its other attributes, and is idempotent', async function () {
    const dir = await tempDir();
    // The tests' temp dirs are on the root filesystem; the claim is ext4's.
    if (!(await fsType(dir)).startsWith('ext')) this.skip();
    const sub = join(dir, 'snapshots');
    await mkdir(sub);
    await run('chattr', ['+d', sub]); // another attribute (nodump), to see it kept
    const before = await attrs(sub);
    assert.ok(!before.includes('T'), before);
    assert.equal(markTopDir(sub), true);
    const after = await attrs(sub);
    assert.ok(after.includes('T'), after);
    assert.ok(after.includes('d'), `nodump kept: ${after}`);
    assert.equal(markTopDir(sub), true);
    assert.equal(await attrs(sub), after);
    // Not inherited: a directory made in it is an ordinary one.
    await mkdir(join(sub, 'child'));
    assert.ok(!(await attrs(join(sub, 'child'))).includes('T'));
  });

  it('is a no-op that answers false where the filesystem has no such flag (tmpfs)', async () => {
    const dir = await tempDir();
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'coracle-test-topdir', dir]);
    onCleanup(`unmount ${dir}`, () => run('umount', [dir]));
    assert.equal(markTopDir(dir), false);
    await writeFile(join(dir, 'still-writable'), 'x');
    assert.deepEqual(await readdir(dir), ['still-writable']);
  });

  it('answers false for a path that is not a directory, and leaves it as it was', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'file'), 'x');
    const before = await attrs(join(dir, 'file'));
    assert.equal(markTopDir(join(dir, 'file')), false);
    assert.equal(markTopDir(join(dir, 'missing')), false);
    assert.equal(await attrs(join(dir, 'file')), before);
  });

  it('the snapshotter marks its roots (layers, active snapshots), so that each snapshot starts a tree of its own', async function () {
    const dir = await tempDir();
    if (!(await fsType(dir)).startsWith('ext')) this.skip();
    const root = join(dir, 'snapshots');
    await new DirSnapshotter(root, { unpack: () => Promise.reject(new Error('not used')) }).init();
    assert.ok((await attrs(root)).includes('T'));
    assert.ok((await attrs(join(root, 'active'))).includes('T'));
  });
});
