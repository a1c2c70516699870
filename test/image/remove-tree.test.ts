import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { removeTreeInChild, TreeRemovals } from '../../src/image/remove-tree.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/daemon.js';

const run = promisify(execFile);

/** A layer-like tree in `parent/name`: nested dirs, files, and symlinks that point out of it. */
async function hostileTree(parent: string, name: string, outside: string): Promise<void> {
  const root = join(parent, name);
  await mkdir(join(root, 'a', 'b'), { recursive: true });
  for (let i = 0; i < 50; i++) await writeFile(join(root, 'a', 'b', `f${i}`), `file ${i}\n`);
  // Absolute and relative links to a dir outside the tree, and one to its file.
  await symlink(outside, join(root, 'abs-out'));
  await symlink('../../../outside', join(root, 'a', 'b', 'rel-out'));
  await symlink(join(outside, 'keep'), join(root, 'a', 'file-out'));
}

describe('image/remove-tree: trees deleted by a child rm', () => {
  it('deletes a tree whose symlinks point outside it without touching what they point to', async () => {
    const dir = await tempDir();
    const outside = join(dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'kept\n');
    await mkdir(join(dir, 'snapshots'));
    await hostileTree(join(dir, 'snapshots'), 'layer', outside);
    await removeTreeInChild(join(dir, 'snapshots'), 'layer');
    assert.deepEqual(await readdir(join(dir, 'snapshots')), []);
    assert.equal(await readFile(join(outside, 'keep'), 'utf8'), 'kept\n');
  });

  it('leaves a tree with a mount inside it, and says so; the mounted filesystem keeps its files', async () => {
    const dir = await tempDir();
    const mnt = join(dir, 'layer', 'sub', 'mnt');
    await mkdir(mnt, { recursive: true });
    await writeFile(join(dir, 'layer', 'sub', 'file'), 'x');
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'coracle-test-rmtree', mnt]);
    onCleanup(`unmount ${mnt}`, () => run('umount', [mnt]));
    await writeFile(join(mnt, 'on-tmpfs'), 'y');
    await assert.rejects(removeTreeInChild(dir, 'layer'), /^Error: rm -rf .*\/layer: exit status 1$/);
    assert.equal(await readFile(join(mnt, 'on-tmpfs'), 'utf8'), 'y');
  });

  it('falls back to the removal in the daemon when rm cannot be run (no rm on PATH)', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'layer', 'x'), { recursive: true });
    await writeFile(join(dir, 'layer', 'x', 'f'), 'z');
    const path = process.env.PATH;
    process.env.PATH = join(dir, 'no-such-dir');
    try {
      await removeTreeInChild(dir, 'layer');
    } finally {
      process.env.PATH = path;
    }
    assert.equal(existsSync(join(dir, 'layer')), false);
  });

  it('TreeRemovals: the tree renamed away when removeLater answers, deleted by the given remover after; an absent one is false', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'snap', 'fs'), { recursive: true });
    const calls: string[] = [];
    const removals = new TreeRemovals(async (parent, name) => {
      calls.push(name);
      await removeTreeInChild(parent, name);
    });
    assert.equal(await removals.removeLater(join(dir, 'snap')), true);
    // Not begun within the call: the remover runs on a later turn of the event loop.
    assert.deepEqual(calls, []);
    await removals.settled();
    assert.equal(calls.length, 1);
    assert.match(calls[0]!, /^tmp-rm-snap-[0-9a-f]{8}$/);
    assert.deepEqual(await readdir(dir), []);
    assert.equal(await removals.removeLater(join(dir, 'snap')), false);
  });
});
