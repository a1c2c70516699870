import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DirSnapshotter } from '../../src/image/dir-snapshotter.js';
import type { UnpackRequest } from '../../src/image/unpack.js';
import { mkdirat, O_DIRECTORY, O_NOFOLLOW, O_RDONLY, openat } from '../../src/util/at-syscalls.js';
import { tempDir } from '../helpers/daemon.js';

/** 200 nested 40-character dirs in `root`, made by fd: 8 KB of path, past PATH_MAX. */
function deepTree(root: string): void {
  let fd = openSync(root, O_RDONLY | O_DIRECTORY);
  try {
    for (let i = 0; i < 200; i++) {
      mkdirat(fd, 'd'.repeat(40), 0o755);
      const sub = openat(fd, 'd'.repeat(40), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      closeSync(fd);
      fd = sub;
    }
  } finally {
    closeSync(fd);
  }
}

const DIFF = `sha256:${'a'.repeat(64)}`;
const CHAIN = `sha256:${'b'.repeat(64)}`;

describe('image/snapshotter: removing trees deeper than PATH_MAX', () => {
  it('a failed unpack reports its own error and leaves no staging dir; remove() takes a deep snapshot', async () => {
    const root = await tempDir();
    let fail = true;
    const snap = new DirSnapshotter(root, {
      unpack: async (req: UnpackRequest) => {
        deepTree(req.target);
        if (fail) throw new Error('the unpack failed');
        return { diffId: DIFF, bytes: 0, inodes: 200, warnings: [] };
      },
    });
    await snap.init();
    await assert.rejects(snap.unpack(CHAIN, undefined, DIFF, 'blob', true), /^Error: the unpack failed$/);
    const layers = (): string[] => readdirSync(root).filter((n) => n !== 'active');
    assert.deepEqual(layers(), []);
    fail = false;
    await snap.unpack(CHAIN, undefined, DIFF, 'blob', true);
    assert.deepEqual(readdirSync(join(root, 'b'.repeat(64), 'fs')), ['d'.repeat(40)]);
    await snap.remove(CHAIN);
    assert.ok(layers().every((n) => n.startsWith('tmp-rm-')), 'renamed away when remove answers');
    await snap.settled();
    assert.deepEqual(layers(), [], 'deleted after');
  });
});
