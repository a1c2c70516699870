import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerRecord } from '../../src/container/container-store.js';
import { UsageReader } from '../../src/container/usage-reader.js';
import type { CgroupHost } from '../../src/oci/cgroup-host.js';
import { tempDir } from '../helpers/daemon.js';

describe('container: usage reader', () => {
  const none: CgroupHost = { layout: 'none', controllers: [], v1: {} };
  const exited = (id: string): ContainerRecord => ({ id, state: 'EXITED' }) as unknown as ContainerRecord;

  it('walks a writable layer at most once per few seconds, and again once the container is forgotten', async () => {
    const root = await tempDir('coracle-usage-');
    const upper = (id: string): string => join(root, id);
    await mkdir(upper('c1'));
    await writeFile(join(upper('c1'), 'a'), Buffer.alloc(10_000));
    const reader = new UsageReader({ cgroups: none, upperDir: async (id) => upper(id), mountpoint: upper });
    const first = (await reader.container(exited('c1'))).usage;
    assert.ok(first.writableBytes >= 10_000, `${first.writableBytes}`);
    await writeFile(join(upper('c1'), 'b'), Buffer.alloc(50_000));
    const again = (await reader.container(exited('c1'))).usage;
    assert.deepEqual([again.writableBytes, again.writableInodes], [first.writableBytes, first.writableInodes], 'served from the last walk');
    reader.forget('c1');
    const fresh = (await reader.container(exited('c1'))).usage;
    assert.ok(fresh.writableBytes >= 60_000, `walked again: ${fresh.writableBytes}`);
    assert.equal(fresh.writableInodes, first.writableInodes + 1);
  });
});
