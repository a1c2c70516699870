import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cgroupUsage } from '../../src/container/cgroup-usage.js';
import { cgroupProcsFile } from '../../src/container/container-top.js';
import { detectCgroups, type CgroupHost } from '../../src/oci/cgroup-host.js';
import { tempDir } from '../helpers/daemon.js';

/** Files written under `dir`: name → content. */
async function tree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
}

const mount = (id: number, mountpoint: string, fstype: string, options: string): string => `${id} 1 0:${id} / ${mountpoint} rw,relatime - ${fstype} ${fstype} ${options}`;

/** What kubelet's cgroupfs driver and Coracle make: parent, then the container's id. */
const CGROUP = '/kubepods/burstable/pod0b1f/c0ffee';

describe('container/cgroup-usage: v1 and v2 counters from synthetic cgroup trees', () => {
  let root: string;
  beforeEach(async () => {
    root = join(await tempDir(), 'cgroup');
  });

  it('v1 (hybrid, as this host): cpuacct.usage, memory.usage_in_bytes and total_* of memory.stat, pids.current', async () => {
    await tree(root, {
      [`cpuacct${CGROUP}/cpuacct.usage`]: '1234567890\n',
      [`memory${CGROUP}/memory.usage_in_bytes`]: '10485760\n',
      // The non-total_ keys are this cgroup's own; total_ ones include its children.
      [`memory${CGROUP}/memory.stat`]: 'cache 1\nrss 2\ninactive_file 3\ntotal_cache 4096\ntotal_rss 6291456\ntotal_inactive_file 2097152\n',
      [`pids${CGROUP}/pids.current`]: '3\n',
      'unified/cgroup.controllers': 'hugetlb\n',
    });
    const host = await detectCgroups({
      cgroupRoot: root,
      mountinfo: [mount(1, `${root}/cpu`, 'cgroup', 'rw,cpu'), mount(2, `${root}/cpuacct`, 'cgroup', 'rw,cpuacct'), mount(3, `${root}/memory`, 'cgroup', 'rw,memory'), mount(4, `${root}/pids`, 'cgroup', 'rw,pids'), mount(5, `${root}/unified`, 'cgroup2', 'rw')].join('\n'),
    });
    assert.equal(host.layout, 'hybrid');
    const proc = [`5:pids:${CGROUP}`, `4:memory:${CGROUP}`, `2:cpuacct:${CGROUP}`, `1:cpu:${CGROUP}`, '0::/'].join('\n');
    assert.deepEqual(await cgroupUsage(host, proc), {
      cpuNanoseconds: 1234567890n,
      memoryUsageBytes: 10485760n,
      memoryWorkingSetBytes: 10485760n - 2097152n,
      memoryRssBytes: 6291456n,
      processes: 3,
    });
    assert.equal(cgroupProcsFile(host, proc), join(root, 'pids', CGROUP, 'cgroup.procs'));
  });

  it('v1 co-mounted cpu,cpuacct; a missing pids hierarchy reads as zero, top falls back to another', async () => {
    await tree(root, { [`cpu,cpuacct${CGROUP}/cpuacct.usage`]: '42\n' });
    const host = await detectCgroups({ cgroupRoot: root, mountinfo: mount(1, `${root}/cpu,cpuacct`, 'cgroup', 'rw,cpu,cpuacct') });
    const proc = `3:cpu,cpuacct:${CGROUP}\n`;
    assert.deepEqual(await cgroupUsage(host, proc), { cpuNanoseconds: 42n, memoryUsageBytes: 0n, memoryWorkingSetBytes: 0n, memoryRssBytes: 0n, processes: 0 });
    assert.equal(cgroupProcsFile(host, proc), join(root, 'cpu,cpuacct', CGROUP, 'cgroup.procs'));
  });

  it('v2 (unified): cpu.stat usage_usec x 1000, memory.current, memory.stat anon and inactive_file, pids.current', async () => {
    await tree(root, {
      'cgroup.controllers': 'cpuset cpu io memory hugetlb pids\n',
      'cgroup.subtree_control': 'cpuset cpu io memory hugetlb pids\n',
      [`${CGROUP.slice(1)}/cpu.stat`]: 'usage_usec 2500001\nuser_usec 2000000\nsystem_usec 500001\nnr_periods 0\n',
      [`${CGROUP.slice(1)}/memory.current`]: '20971520\n',
      [`${CGROUP.slice(1)}/memory.stat`]: 'anon 8388608\nfile 4194304\nkernel 1\nactive_file 1048576\ninactive_file 3145728\n',
      [`${CGROUP.slice(1)}/pids.current`]: '7\n',
    });
    const host = await detectCgroups({ cgroupRoot: root, mountinfo: mount(1, root, 'cgroup2', 'rw,nsdelegate') });
    assert.equal(host.layout, 'unified');
    const proc = `0::${CGROUP}\n`;
    assert.deepEqual(await cgroupUsage(host, proc), {
      cpuNanoseconds: 2500001000n,
      memoryUsageBytes: 20971520n,
      memoryWorkingSetBytes: 20971520n - 3145728n,
      memoryRssBytes: 8388608n,
      processes: 7,
    });
    assert.equal(cgroupProcsFile(host, proc), join(root, CGROUP, 'cgroup.procs'));
  });

  it('v2: inactive_file above usage gives a working set of 0; missing files read as 0', async () => {
    await tree(root, { [`${CGROUP.slice(1)}/memory.current`]: '100\n', [`${CGROUP.slice(1)}/memory.stat`]: 'inactive_file 200\n' });
    const host = await detectCgroups({ cgroupRoot: root, mountinfo: mount(1, root, 'cgroup2', 'rw') });
    assert.deepEqual(await cgroupUsage(host, `0::${CGROUP}\n`), { cpuNanoseconds: 0n, memoryUsageBytes: 100n, memoryWorkingSetBytes: 0n, memoryRssBytes: 0n, processes: 0 });
  });

  it('no cgroups, or a process with no line for them: all zero', async () => {
    const none: CgroupHost = { layout: 'none', controllers: [], v1: {} };
    const zero = { cpuNanoseconds: 0n, memoryUsageBytes: 0n, memoryWorkingSetBytes: 0n, memoryRssBytes: 0n, processes: 0 };
    assert.deepEqual(await cgroupUsage(none, `0::${CGROUP}`), zero);
    const host = await detectCgroups({ cgroupRoot: root, mountinfo: mount(1, root, 'cgroup2', 'rw') });
    assert.deepEqual(await cgroupUsage(host, '1:name=systemd:/'), zero);
    assert.equal(cgroupProcsFile(none, `0::${CGROUP}`), undefined);
  });
});
