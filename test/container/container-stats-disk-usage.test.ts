import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { diskUsage } from '../../src/container/container-stats.js';
import { tempDir } from '../helpers/daemon.js';
import { deepTree, openFds } from '../helpers/deep-tree.js';

describe('container/container-stats: disk usage of a writable layer is bounded', () => {
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
});
