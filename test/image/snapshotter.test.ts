import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoracleError } from '../../src/errors.js';
import { chainIds } from '../../src/image/digest.js';
import { DirSnapshotter } from '../../src/image/dir-snapshotter.js';
import type { Mount, Snapshotter } from '../../src/image/snapshotter.js';
import { unpackLayer } from '../../src/image/unpack.js';
import { mountArgs, mountRootfs, unmount, writableDir } from '../../src/util/mounts.js';
import { onCleanup } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/daemon.js';
import { buildLayer, type LayerEntry } from '../helpers/images.js';

/** What a conformance run needs of an implementation: one on a fresh root, and another on the same root (a restart). */
export interface SnapshotterUnderTest {
  snapshotter: Snapshotter;
  /** Everything the snapshotter keeps is under here. */
  root: string;
  /** A new instance over the same root, initialised as at a daemon's start. */
  reopen(): Promise<Snapshotter>;
}

const codeOf = (code: string) => (err: unknown) => err instanceof CoracleError && err.code === code;

/** The dirs of a mount's options and source, for checking where they point. */
function pathsOf(mounts: Mount[]): string[] {
  const out: string[] = [];
  for (const m of mounts) {
    if (m.source.startsWith('/')) out.push(m.source);
    for (const o of m.options) {
      const [name, value] = o.split('=', 2);
      if (value !== undefined && ['lowerdir', 'upperdir', 'workdir'].includes(name!)) out.push(...value.split(':'));
    }
  }
  return out;
}

const lowersOf = (mounts: Mount[]): string[] => mounts[0]!.options.find((o) => o.startsWith('lowerdir='))?.slice('lowerdir='.length).split(':') ?? [];

/**
 * The Snapshotter contract, run against an implementation `make` returns: committed layers
 * unpacked from tars built here, active and view snapshots mounted for real through
 * mountRootfs (every mount undone after each test, whatever its outcome), removal rules,
 * references, and keys that try to leave the root.
 */
export function snapshotterConformance(name: string, make: () => Promise<SnapshotterUnderTest>): void {
  describe(`snapshotter conformance: ${name}`, function () {
    this.timeout(30_000);
    let t: SnapshotterUnderTest;
    let s: Snapshotter;
    let work: string;
    let base: string;
    let top: string;

    const layer = async (entries: LayerEntry[]): Promise<{ path: string; diffId: string }> => {
      const l = await buildLayer(entries, { compression: 'none' });
      const path = join(work, l.diffId.slice(7, 19));
      await writeFile(path, l.tar);
      return { path, diffId: l.diffId };
    };

    /** Mounts `mounts` on a new dir; unmounted after the test whatever happens. */
    const mountAt = async (mounts: Mount[], what: string): Promise<string> => {
      const target = join(work, `mnt-${what}`);
      await mkdir(target);
      onCleanup(`unmount ${target}`, () => unmount(target, what));
      await mountRootfs(target, mounts, what);
      return target;
    };

    beforeEach(async () => {
      t = await make();
      s = t.snapshotter;
      work = await tempDir('coracle-snap-work-');
      const one = await layer([
        { type: 'dir', path: 'etc' },
        { type: 'file', path: 'etc/a', content: 'one\n' },
        { type: 'file', path: 'etc/gone', content: 'hidden above\n' },
      ]);
      const two = await layer([
        { type: 'dir', path: 'etc' },
        { type: 'file', path: 'etc/b', content: 'two\n' },
        { type: 'whiteout', path: 'etc/gone' },
      ]);
      [base, top] = chainIds([one.diffId, two.diffId]) as [string, string];
      await s.unpack(base, undefined, one.diffId, one.path, true);
      await s.unpack(top, base, two.diffId, two.path, true);
    });

    it('prepare: an overlay of the parent chain under a new upper; writes land in the upper, not the lowers; a whiteout hides a lower file', async () => {
      const mounts = await s.prepare('ctr/1', top);
      assert.deepEqual(mounts.map((m) => m.type), ['overlay']);
      const lowers = lowersOf(mounts);
      assert.equal(lowers.length, 2, 'both layers, nearest first');
      const root = await mountAt(mounts, 'active');
      assert.deepEqual((await readdir(join(root, 'etc'))).sort(), ['a', 'b'], 'the whiteout hides etc/gone');
      assert.equal(await readFile(join(root, 'etc/a'), 'utf8'), 'one\n');
      await writeFile(join(root, 'etc/new'), 'mine\n');
      const upper = writableDir(mounts, 'test');
      assert.equal(await readFile(join(upper, 'etc/new'), 'utf8'), 'mine\n');
      for (const l of lowers) assert.ok(!existsSync(join(l, 'etc/new')), `not in the lower ${l}`);
      assert.ok(pathsOf(mounts).every((p) => p.startsWith(t.root + '/')), 'every dir under the root');
    });

    it('prepare with no parent: an empty writable dir', async () => {
      const mounts = await s.prepare('scratch', undefined);
      const root = await mountAt(mounts, 'scratch');
      assert.deepEqual(await readdir(root), []);
      await writeFile(join(root, 'f'), 'x');
      assert.equal(await readFile(join(writableDir(mounts, 'test'), 'f'), 'utf8'), 'x');
    });

    it('view: read-only, over several layers (overlay) and over one (bind)', async () => {
      for (const [key, parent, files] of [
        ['view/top', top, ['a', 'b']],
        ['view/base', base, ['a', 'gone']],
      ] as const) {
        const mounts = await s.view(key, parent);
        const root = await mountAt(mounts, key.replace('/', '-'));
        assert.deepEqual((await readdir(join(root, 'etc'))).sort(), files, key);
        await assert.rejects(writeFile(join(root, 'etc/x'), 'no'), (err: NodeJS.ErrnoException) => err.code === 'EROFS', `${key}: a write is EROFS`);
        assert.throws(() => writableDir(mounts, key), codeOf('INVALID_ARGUMENT'), 'a view has no writable dir');
      }
    });

    it('prepare is idempotent for one key and parent; another parent or kind is ALREADY_EXISTS; a chain ID is no key', async () => {
      const first = await s.prepare('ctr/2', top);
      const [again, alsoAgain] = await Promise.all([s.prepare('ctr/2', top), s.prepare('ctr/2', top)]);
      assert.deepEqual([again, alsoAgain], [first, first]);
      assert.deepEqual(await s.mounts('ctr/2'), first);
      await assert.rejects(s.prepare('ctr/2', base), codeOf('ALREADY_EXISTS'));
      await assert.rejects(s.view('ctr/2', top), codeOf('ALREADY_EXISTS'));
      await assert.rejects(s.prepare(top, base), codeOf('INVALID_ARGUMENT'));
      await assert.rejects(s.prepare('ctr/3', `sha256:${'f'.repeat(64)}`), codeOf('FAILED_PRECONDITION'), 'a parent that is not there');
      await assert.rejects(s.mounts('none'), codeOf('NOT_FOUND'));
    });

    it('remove: refused for a parent in use (by an active snapshot, by a committed child), allowed once free; none is no error', async () => {
      await s.prepare('ctr/4', top);
      await assert.rejects(s.remove(top), codeOf('FAILED_PRECONDITION'), 'an active snapshot is over it');
      await assert.rejects(s.remove(base), codeOf('FAILED_PRECONDITION'), 'a committed snapshot is over it');
      await s.remove('ctr/4');
      assert.equal(await s.stat('ctr/4'), undefined);
      await s.remove(top);
      await s.remove(base);
      await s.remove(base);
      await s.remove('never made');
      assert.deepEqual(await s.list(), []);
      await s.settled();
    });

    it('referenced: an active or view snapshot holds its whole chain, a lease what it added, until removed or released', async () => {
      const held = async (): Promise<string[]> => [...(await s.referenced())].sort();
      assert.deepEqual(await held(), []);
      await s.prepare('ctr/5', top);
      assert.deepEqual(await held(), [base, top].sort());
      await s.remove('ctr/5');
      await s.view('v', base);
      assert.deepEqual(await held(), [base]);
      await s.remove('v');
      const a = s.lease();
      const b = s.lease();
      a.add(top);
      b.add(base);
      const pending = `sha256:${'9'.repeat(64)}`;
      b.add(pending);
      assert.deepEqual(await held(), [base, top, pending].sort(), 'a chain and its parents; one not unpacked yet too');
      a.release();
      a.release();
      assert.deepEqual(await held(), [base, pending].sort(), 'released once, the other lease kept');
      b.release();
      b.add(top);
      assert.deepEqual(await held(), [], 'a released lease holds nothing, even added to after');
    });

    it('list and stat give each snapshot its kind; active ones outlive a restart; init collects stale tmp- dirs', async () => {
      const mounts = await s.prepare('ctr/6', top);
      await s.view('view/6', top);
      const kinds = (await s.list()).map((i) => `${i.kind}:${i.key}`).sort();
      assert.deepEqual(kinds, [`active:ctr/6`, `committed:${base}`, `committed:${top}`, `view:view/6`].sort());
      assert.equal((await s.stat(base))?.kind, 'committed');
      const info = await s.stat('ctr/6');
      assert.ok(info?.kind === 'active' && !Number.isNaN(Date.parse(info.created)), 'made at a time');
      assert.deepEqual(info, { kind: 'active', key: 'ctr/6', parent: top, created: info.created });
      // What a daemon killed half-way leaves, at both levels.
      await mkdir(join(t.root, 'tmp-0123-dead', 'fs'), { recursive: true });
      await mkdir(join(t.root, 'active', 'tmp-4567-dead', 'fs'), { recursive: true });
      await s.settled();
      const again = await t.reopen();
      assert.ok(!existsSync(join(t.root, 'tmp-0123-dead')) && !existsSync(join(t.root, 'active', 'tmp-4567-dead')), 'stale staging dirs collected');
      assert.deepEqual((await again.list()).map((i) => `${i.kind}:${i.key}`).sort(), kinds);
      assert.deepEqual(await again.mounts('ctr/6'), mounts, 'the same mounts after a restart');
      assert.deepEqual([...(await again.referenced())].sort(), [base, top].sort());
    });

    it('hostile keys stay inside the root; a key past the limit is refused', async () => {
      const keys = ['../../x', 'a/b', '/etc/passwd', '..', 'k'.repeat(4000), 'nul\0byte'];
      const outside = await readdir(join(t.root, '..'));
      for (const key of keys) {
        const mounts = await s.prepare(key, top);
        assert.ok(pathsOf(mounts).every((p) => p.startsWith(t.root + '/') && !p.includes('/../')), `${key.slice(0, 20)}: ${pathsOf(mounts).join(' ')}`);
        assert.equal((await s.stat(key))?.key, key);
      }
      assert.deepEqual(await readdir(join(t.root, '..')), outside, 'nothing made beside the root');
      assert.ok((await readdir(join(t.root, 'active'))).every((n) => /^[a-f0-9]{64}$/.test(n)), 'one hashed dir per key');
      await assert.rejects(s.prepare('k'.repeat(5000), top), codeOf('INVALID_ARGUMENT'));
      await assert.rejects(s.prepare('', top), codeOf('INVALID_ARGUMENT'));
      for (const key of keys) await s.remove(key);
      assert.deepEqual((await s.list()).filter((i) => i.kind !== 'committed'), []);
    });

    it('adopt: dirs made elsewhere become an active snapshot, by rename; a call cut short is finished by the next', async () => {
      const legacy = join(t.root, '..', 'legacy');
      await mkdir(join(legacy, 'upper', 'etc'), { recursive: true });
      await mkdir(join(legacy, 'work'));
      await writeFile(join(legacy, 'upper', 'etc', 'kept'), 'from before\n');
      await s.adopt('old/1', top, { upper: join(legacy, 'upper'), work: join(legacy, 'work') });
      assert.ok(!existsSync(join(legacy, 'upper')) && !existsSync(join(legacy, 'work')), 'moved, not copied');
      const root = await mountAt(await s.mounts('old/1'), 'adopted');
      assert.deepEqual((await readdir(join(root, 'etc'))).sort(), ['a', 'b', 'kept']);
      // Again (the record's save was cut short): nothing left to move, nothing lost.
      await s.adopt('old/1', top, { upper: join(legacy, 'upper'), work: join(legacy, 'work') });
      assert.equal(await readFile(join(root, 'etc', 'kept'), 'utf8'), 'from before\n');
      await assert.rejects(s.adopt('old/1', base, { upper: join(legacy, 'upper'), work: join(legacy, 'work') }), codeOf('ALREADY_EXISTS'));
    });
  });
}

snapshotterConformance('DirSnapshotter', async () => {
  const root = join(await tempDir('coracle-snap-'), 'snapshots');
  const open = async (): Promise<DirSnapshotter> => {
    const snap = new DirSnapshotter(root, { unpack: (req) => unpackLayer(req) });
    await snap.init();
    onCleanup('wait for removed trees', () => snap.settled());
    return snap;
  };
  return { snapshotter: await open(), root, reopen: open };
});

describe('mounts as data: coracle-mount arguments', () => {
  it('lower dirs passed relative to their common parent; upper and work as given; a read-only bind', () => {
    const lowers = Array.from({ length: 3 }, (_, i) => `/var/lib/coracle/image/snapshots/${String(i).repeat(64)}/fs`);
    const overlay: Mount = { type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`, 'upperdir=/u/fs', 'workdir=/u/work'] };
    assert.deepEqual(mountArgs('/t', overlay), ['-t', '/t', '-u', '/u/fs', '-w', '/u/work', '-C', '/var/lib/coracle/image/snapshots', '-l', lowers.map((l) => l.slice(33)).join(':')]);
    assert.deepEqual(mountArgs('/t', { type: 'overlay', source: 'overlay', options: ['lowerdir=/s/a/fs:/s/b/fs'] }), ['-t', '/t', '-C', '/s', '-l', 'a/fs:b/fs']);
    assert.deepEqual(mountArgs('/t', { type: 'bind', source: '/s/a/fs', options: ['rbind', 'ro'] }), ['-t', '/t', '-b', '/s/a/fs', '-r']);
    assert.throws(() => mountArgs('/t', { type: 'tmpfs', source: 'x', options: [] }), codeOf('INVALID_ARGUMENT'));
    assert.throws(() => mountArgs('/t', { type: 'overlay', source: 'overlay', options: ['lowerdir=rel/a', 'upperdir=/u'] }), codeOf('INVALID_ARGUMENT'));
  });
});
