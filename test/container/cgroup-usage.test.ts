import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CgroupCounters, keyedValue, type CgroupUsage } from '../../src/container/cgroup-usage.js';
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

/** The usage `host` reads for a process in `procCgroup`, the files opened and closed for it. */
async function cgroupUsage(host: CgroupHost, procCgroup: string): Promise<CgroupUsage> {
  const counters = CgroupCounters.open(host, procCgroup);
  try {
    return await counters.read();
  } finally {
    counters.close();
  }
}

/** This process's open fds, counted without yielding: a read's end would run in between. */
const openFds = (): number => readdirSync('/proc/self/fd').length;

const ZERO = { cpuNanoseconds: 0n, memoryUsageBytes: 0n, memoryWorkingSetBytes: 0n, memoryRssBytes: 0n, processes: 0 };

describe('container/cgroup-usage: v1 and v2 counters from synthetic cgroup trees', () => {
  let root: string;
  beforeEach(async () => {
    root = join(await tempDir(), 'cgroup');
  });

  interface UsageCase {
    what: string;
    files: Record<string, string>;
    /** mountinfo lines, given the tree's root. */
    mounts: (root: string) => string[];
    layout: CgroupHost['layout'];
    /** The process's /proc/PID/cgroup. */
    proc: string;
    usage: CgroupUsage;
    /** The cgroup.procs top reads, under the tree's root. */
    procsFile: string;
  }
  const cases: UsageCase[] = [
    {
      what: 'v1 (hybrid, as this host): cpuacct.usage, memory.usage_in_bytes and total_* of memory.stat, pids.current',
      files: {
        [`cpuacct${CGROUP}/cpuacct.usage`]: '1234567890\n',
        [`memory${CGROUP}/memory.usage_in_bytes`]: '10485760\n',
        // The non-total_ keys are this cgroup's own; total_ ones include its children.
        [`memory${CGROUP}/memory.stat`]: 'cache 1\nrss 2\ninactive_file 3\ntotal_cache 4096\ntotal_rss 6291456\ntotal_inactive_file 2097152\n',
        [`pids${CGROUP}/pids.current`]: '3\n',
        'unified/cgroup.controllers': 'hugetlb\n',
      },
      mounts: (root) => [mount(1, `${root}/cpu`, 'cgroup', 'rw,cpu'), mount(2, `${root}/cpuacct`, 'cgroup', 'rw,cpuacct'), mount(3, `${root}/memory`, 'cgroup', 'rw,memory'), mount(4, `${root}/pids`, 'cgroup', 'rw,pids'), mount(5, `${root}/unified`, 'cgroup2', 'rw')],
      layout: 'hybrid',
      proc: [`5:pids:${CGROUP}`, `4:memory:${CGROUP}`, `2:cpuacct:${CGROUP}`, `1:cpu:${CGROUP}`, '0::/'].join('\n'),
      usage: { cpuNanoseconds: 1234567890n, memoryUsageBytes: 10485760n, memoryWorkingSetBytes: 10485760n - 2097152n, memoryRssBytes: 6291456n, processes: 3 },
      procsFile: join('pids', CGROUP, 'cgroup.procs'),
    },
    {
      what: 'v1 co-mounted cpu,cpuacct; a missing pids hierarchy reads as zero, top falls back to another',
      files: { [`cpu,cpuacct${CGROUP}/cpuacct.usage`]: '42\n' },
      mounts: (root) => [mount(1, `${root}/cpu,cpuacct`, 'cgroup', 'rw,cpu,cpuacct')],
      layout: 'v1',
      proc: `3:cpu,cpuacct:${CGROUP}\n`,
      usage: { ...ZERO, cpuNanoseconds: 42n },
      procsFile: join('cpu,cpuacct', CGROUP, 'cgroup.procs'),
    },
    {
      what: 'v2 (unified): cpu.stat usage_usec x 1000, memory.current, memory.stat anon and inactive_file, pids.current',
      files: {
        'cgroup.controllers': 'cpuset cpu io memory hugetlb pids\n',
        'cgroup.subtree_control': 'cpuset cpu io memory hugetlb pids\n',
        [`${CGROUP.slice(1)}/cpu.stat`]: 'usage_usec 2500001\nuser_usec 2000000\nsystem_usec 500001\nnr_periods 0\n',
        [`${CGROUP.slice(1)}/memory.current`]: '20971520\n',
        [`${CGROUP.slice(1)}/memory.stat`]: 'anon 8388608\nfile 4194304\nkernel 1\nactive_file 1048576\ninactive_file 3145728\n',
        [`${CGROUP.slice(1)}/pids.current`]: '7\n',
      },
      mounts: (root) => [mount(1, root, 'cgroup2', 'rw,nsdelegate')],
      layout: 'unified',
      proc: `0::${CGROUP}\n`,
      usage: { cpuNanoseconds: 2500001000n, memoryUsageBytes: 20971520n, memoryWorkingSetBytes: 20971520n - 3145728n, memoryRssBytes: 8388608n, processes: 7 },
      procsFile: join(CGROUP, 'cgroup.procs'),
    },
    {
      what: 'v2: inactive_file above usage gives a working set of 0; missing files read as 0',
      files: { [`${CGROUP.slice(1)}/memory.current`]: '100\n', [`${CGROUP.slice(1)}/memory.stat`]: 'inactive_file 200\n' },
      mounts: (root) => [mount(1, root, 'cgroup2', 'rw')],
      layout: 'unified',
      proc: `0::${CGROUP}\n`,
      usage: { ...ZERO, memoryUsageBytes: 100n },
      procsFile: join(CGROUP, 'cgroup.procs'),
    },
  ];
  for (const c of cases) {
    it(c.what, async () => {
      await tree(root, c.files);
      const host = await detectCgroups({ cgroupRoot: root, mountinfo: c.mounts(root).join('\n') });
      assert.equal(host.layout, c.layout);
      assert.deepEqual(await cgroupUsage(host, c.proc), c.usage);
      assert.equal(cgroupProcsFile(host, c.proc), join(root, c.procsFile));
    });
  }

  it('no cgroups, or a process with no line for them: all zero', async () => {
    const none: CgroupHost = { layout: 'none', controllers: [], v1: {} };
    assert.deepEqual(await cgroupUsage(none, `0::${CGROUP}`), ZERO);
    const host = await detectCgroups({ cgroupRoot: root, mountinfo: mount(1, root, 'cgroup2', 'rw') });
    assert.deepEqual(await cgroupUsage(host, '1:name=systemd:/'), ZERO);
    assert.equal(cgroupProcsFile(none, `0::${CGROUP}`), undefined);
  });

  it('counter files kept open are read again from their start; closing waits for a read in flight', async () => {
    const c = cases[0]!;
    await tree(root, c.files);
    const host = await detectCgroups({ cgroupRoot: root, mountinfo: c.mounts(root).join('\n') });
    const before = openFds();
    const counters = CgroupCounters.open(host, c.proc);
    assert.equal(openFds(), before + 4, 'cpuacct.usage, memory.usage_in_bytes, memory.stat, pids.current');
    assert.deepEqual(await counters.read(), c.usage);
    // Shorter than before: what is read is the file as it is now, not the tail of the old.
    await writeFile(join(root, `pids${CGROUP}/pids.current`), '9\n');
    await writeFile(join(root, `cpuacct${CGROUP}/cpuacct.usage`), '7\n');
    const reading = counters.read();
    counters.close();
    assert.equal(openFds(), before + 4, 'still open under the read');
    assert.deepEqual(await reading, { ...c.usage, cpuNanoseconds: 7n, processes: 9 });
    assert.equal(openFds(), before, 'closed once it ended');
    assert.deepEqual(await counters.read(), ZERO, 'a read after close');
  });

  it('a keyed file: the value of a whole key, wherever its line is; 0 for none or a bad value', () => {
    const stat = 'rss 1\ntotal_rss 22\ninactive_file 3\ntotal_inactive_file 44\nweird x9\nlast 5';
    const rows: [string, bigint][] = [
      ['rss', 1n],
      ['total_rss', 22n],
      ['inactive_file', 3n],
      ['total_inactive_file', 44n],
      ['last', 5n],
      ['inactive', 0n],
      ['weird', 0n],
      ['absent', 0n],
    ];
    for (const [key, value] of rows) assert.equal(keyedValue(stat, key), value, key);
    assert.equal(keyedValue('', 'rss'), 0n);
  });
});
