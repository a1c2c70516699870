import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { removeTreesInChild, TreeRemovals } from '../../src/image/remove-tree.js';
import type { Logger } from '../../src/log.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';

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
  it('deletes trees whose symlinks point outside them without touching what they point to', async () => {
    const dir = await tempDir();
    const outside = join(dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'kept\n');
    await mkdir(join(dir, 'snapshots'));
    await hostileTree(join(dir, 'snapshots'), 'layer', outside);
    await hostileTree(join(dir, 'snapshots'), 'layer2', outside);
    await removeTreesInChild([join(dir, 'snapshots', 'layer'), join(dir, 'snapshots', 'layer2')]);
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
    await assert.rejects(removeTreesInChild([join(dir, 'layer')]), /^Error: rm -rf .*\/layer: exit status 1$/);
    assert.equal(await readFile(join(mnt, 'on-tmpfs'), 'utf8'), 'y');
  });

  it('falls back to the removal in the daemon when rm cannot be run (no rm on PATH)', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'layer', 'x'), { recursive: true });
    await writeFile(join(dir, 'layer', 'x', 'f'), 'z');
    const path = process.env.PATH;
    process.env.PATH = join(dir, 'no-such-dir');
    try {
      await removeTreesInChild([join(dir, 'layer')]);
    } finally {
      process.env.PATH = path;
    }
    assert.equal(existsSync(join(dir, 'layer')), false);
  });

  it('TreeRemovals: trees renamed away when removeLater answers, deleted together later by the given deleter; an absent one is false', async () => {
    const dir = await tempDir();
    for (const name of ['a', 'b']) await mkdir(join(dir, name, 'fs'), { recursive: true });
    const batches: string[][] = [];
    // A delay no test waits out: settled() begins what is waiting.
    const removals = new TreeRemovals({
      remove: async (paths) => {
        batches.push(paths.map((p) => basename(p)));
        await removeTreesInChild(paths);
      },
      delayMs: 60_000,
    });
    assert.equal(await removals.removeLater(join(dir, 'a')), true);
    assert.equal(await removals.removeLater(join(dir, 'b')), true);
    const renamed = (await readdir(dir)).sort();
    assert.equal(renamed.length, 2);
    assert.match(renamed[0]!, /^tmp-rm-a-[0-9a-f]{8}$/);
    assert.match(renamed[1]!, /^tmp-rm-b-[0-9a-f]{8}$/);
    assert.equal(batches.length, 0, 'nothing deleted before the delay');
    await removals.settled();
    assert.deepEqual(batches.map((b) => b.sort()), [renamed], 'both in one deletion');
    assert.deepEqual(await readdir(dir), []);
    assert.equal(await removals.removeLater(join(dir, 'a')), false);
  });

  it('TreeRemovals: the deletion begins by itself once the delay is over', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'c', 'fs'), { recursive: true });
    const removals = new TreeRemovals({ remove: removeTreesInChild, delayMs: 5 });
    assert.equal(await removals.removeLater(join(dir, 'c')), true);
    // Never settled(): only the timer can start it. Polled, up to 30 s.
    for (let i = 0; i < 3000 && (await readdir(dir)).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(await readdir(dir), []);
  });

  it('TreeRemovals with calls: the deletion waits while calls begin or one is under way, and begins once a wait passes with none', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'd', 'fs'), { recursive: true });
    const calls = { started: 0, underWay: 0 };
    const deleted: number[] = [];
    const removals = new TreeRemovals({ remove: async () => void deleted.push(calls.started), delayMs: 10, calls });
    assert.equal(await removals.removeLater(join(dir, 'd')), true);
    // A call every 2 ms for 100 ms: never 10 ms without one.
    const busy = setInterval(() => calls.started++, 2);
    onCleanup('stop the calls', () => clearInterval(busy));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(deleted, [], 'not while calls come');
    clearInterval(busy);
    // One long call (a pull) under way: still not.
    calls.underWay = 1;
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(deleted, [], 'not while a call is under way');
    calls.underWay = 0;
    const last = calls.started;
    await until('deleted once the calls stopped', () => deleted.length === 1);
    assert.deepEqual(deleted, [last]);
  });

  it('TreeRemovals with calls: calls that never pause delay the deletion no longer than quietWaitMaxMs', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'e', 'fs'), { recursive: true });
    const calls = { started: 0, underWay: 0 };
    let deleted = false;
    const removals = new TreeRemovals({ remove: async () => void (deleted = true), delayMs: 10, calls, quietWaitMaxMs: 60 });
    const busy = setInterval(() => calls.started++, 2);
    onCleanup('stop the calls', () => clearInterval(busy));
    assert.equal(await removals.removeLater(join(dir, 'e')), true);
    await until('deleted while the calls go on', () => deleted);
    assert.ok(calls.started > 0);
  });

  it('TreeRemovals with keepTopsMs: what each tree holds is deleted first, its emptied top dir kept until settled() or the wait ends', async () => {
    const dir = await tempDir();
    for (const name of ['f', 'g']) {
      await mkdir(join(dir, name, 'fs', 'sub'), { recursive: true });
      await writeFile(join(dir, name, 'fs', 'sub', 'file'), 'x');
      await writeFile(join(dir, name, 'info.json'), '{}');
    }
    const batches: string[][] = [];
    // A batch is counted once deleted.
    const deleter = async (paths: readonly string[]): Promise<void> => {
      await removeTreesInChild(paths);
      batches.push(paths.map((p) => relative(dir, p)).sort());
    };
    const kept = new TreeRemovals({ remove: deleter, delayMs: 5, keepTopsMs: 60_000 });
    await kept.removeLater(join(dir, 'f'));
    await kept.removeLater(join(dir, 'g'));
    const tops = (await readdir(dir)).sort();
    await until('the first deletion', () => batches.length > 0);
    assert.deepEqual(batches, [tops.flatMap((t) => [join(t, 'fs'), join(t, 'info.json')]).sort()], 'what they held, in one deletion');
    assert.deepEqual((await readdir(dir)).sort(), tops, 'the emptied tops are kept');
    for (const t of tops) assert.deepEqual(await readdir(join(dir, t)), []);
    await kept.settled();
    assert.deepEqual(batches.slice(1), [tops], 'settled() deletes the kept tops without their wait');
    assert.deepEqual(await readdir(dir), []);

    batches.length = 0;
    await mkdir(join(dir, 'h', 'fs'), { recursive: true });
    const brief = new TreeRemovals({ remove: deleter, delayMs: 5, keepTopsMs: 20 });
    await brief.removeLater(join(dir, 'h'));
    const [top] = await readdir(dir);
    // Never settled(): only the timers can delete it.
    await until('the second deletion', () => batches.length === 2);
    assert.deepEqual(batches, [[join(top!, 'fs')], [top]], 'what it held, then its top');
    assert.deepEqual(await readdir(dir), []);
  });

  it('TreeRemovals: a deletion that fails is logged with its paths, and the tree stays for the next start', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'd', 'fs'), { recursive: true });
    const warnings: { message: string; meta: Record<string, unknown> }[] = [];
    const log = { warn: (message: string, meta: Record<string, unknown>) => warnings.push({ message, meta }) } as unknown as Logger;
    const removals = new TreeRemovals({ remove: () => Promise.reject(new Error('rm -rf: exit status 1')), delayMs: 60_000, log });
    await removals.removeLater(join(dir, 'd'));
    await removals.settled();
    const [left] = await readdir(dir);
    assert.match(left!, /^tmp-rm-d-/);
    assert.deepEqual(warnings, [
      { message: 'removed trees not deleted: the next start collects what is left', meta: { paths: [join(dir, left!)], error: 'rm -rf: exit status 1' } },
    ]);
  });

  it('TreeRemovals: settled(ms) gives up waiting after ms; the deletion goes on', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'e', 'fs'), { recursive: true });
    let release = (): void => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const removals = new TreeRemovals({ remove: (paths) => gate.then(() => removeTreesInChild(paths)), delayMs: 60_000 });
    onCleanup('let the held deletion go', () => release());
    await removals.removeLater(join(dir, 'e'));
    const started = Date.now();
    await removals.settled(50);
    assert.ok(Date.now() - started < 10_000, 'settled(50) returned while the deletion was held');
    assert.equal((await readdir(dir)).length, 1, 'not deleted yet');
    release();
    await removals.settled();
    assert.deepEqual(await readdir(dir), []);
  });
});
