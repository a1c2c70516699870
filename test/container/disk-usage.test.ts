import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { diskUsage } from '../../src/container/container-stats.js';
import { upperDirTar } from '../../src/container/layer-diff.js';
import { mkdirat, O_DIRECTORY, O_NOFOLLOW, O_RDONLY, openat } from '../../src/util/at-syscalls.js';
import { tempDir } from '../helpers/daemon.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

/** `depth` nested dirs `d/d/…` under `root`, made by fd. */
function deepTree(root: string, depth: number): void {
  let fd = openSync(root, O_RDONLY | O_DIRECTORY);
  try {
    for (let i = 0; i < depth; i++) {
      mkdirat(fd, 'd', 0o755);
      const sub = openat(fd, 'd', O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      closeSync(fd);
      fd = sub;
    }
  } finally {
    closeSync(fd);
  }
}

describe('container: walks of a writable layer are bounded', () => {
  it('disk usage of a 1000-deep tree stops descending at its depth bound and says it is partial', async () => {
    const upper = await tempDir();
    deepTree(upper, 1000);
    const before = openFds();
    const usage = await diskUsage(upper);
    assert.equal(usage.partial, true);
    assert.equal(usage.inodes, 257, 'the dirs down to depth 256, and the one seen there');
    assert.equal(openFds(), before);
    const capped = await diskUsage(upper, { maxDepth: 2000, maxEntries: 10, maxMs: 60_000 });
    assert.deepEqual([capped.inodes, capped.partial], [10, true]);
    writeFileSync(join(upper, 'f'), 'x');
    const small = await diskUsage(join(upper, 'd/d'), { maxDepth: 2000, maxEntries: 10_000, maxMs: 60_000 });
    assert.deepEqual([small.inodes, small.partial], [998, false]);
  });

  it('a commit of a 1000-deep tree is refused, naming the path, with no fd left open', async () => {
    const upper = await tempDir();
    deepTree(upper, 1000);
    const before = openFds();
    const tar = upperDirTar(upper);
    await assert.rejects(
      (async () => {
        for await (const _ of tar) void _;
      })(),
      (err: Error & { code?: string }) => {
        assert.match(err.message, new RegExp(`^upper dir: "${Array.from({ length: 257 }, () => 'd').join('/')}": deeper than 256 directory levels$`));
        return true;
      },
    );
    assert.equal(openFds(), before);
  });
});
