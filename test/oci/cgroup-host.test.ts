import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cgroupDir, cgroupMounts, describeCgroups, detectCgroups, type CgroupHost } from '../../src/oci/cgroup-host.js';
import { tempDir } from '../helpers/daemon.js';

/** A mountinfo line for a cgroup mount at `mountpoint` (under the test's fake root). */
const line = (id: number, mountpoint: string, fstype: 'cgroup' | 'cgroup2', superOptions: string, root = '/'): string =>
  `${id} 31 0:${id} ${root} ${mountpoint} rw,nosuid,nodev,noexec,relatime shared:${id} - ${fstype} ${fstype} ${superOptions}`;

/** v1 hierarchies, each at `r/NAME` with the controllers NAME lists, numbered from `id`. */
const v1 = (r: string, id: number, names: string[]): string[] => names.map((n, i) => line(id + i, `${r}/${n}`, 'cgroup', `rw,${n}`));

/** This host's: Debian 12 booted in systemd's hybrid mode, hugetlb only on the cgroup2 side. */
const hybrid = (r: string): string =>
  [
    `23 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw`,
    `31 23 0:28 / ${r} rw,relatime - tmpfs tmpfs rw,mode=755`,
    ...v1(r, 32, ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids']),
    line(40, `${r}/systemd`, 'cgroup', 'rw,xattr,name=systemd'),
    line(41, `${r}/unified`, 'cgroup2', 'rw,nsdelegate'),
  ].join('\n');

/** A classic v1 host (Debian 10, CentOS 7): cpu and cpuacct co-mounted, hugetlb there too. */
const legacy = (r: string): string =>
  [
    `31 23 0:28 / ${r} ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755`,
    line(32, `${r}/systemd`, 'cgroup', 'rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd'),
    ...v1(r, 33, ['cpu,cpuacct', 'net_cls,net_prio', 'memory', 'hugetlb', 'pids']),
    line(38, `${r}/cpuset`, 'cgroup', 'rw,cpuset,clone_children'),
    line(39, `${r}/devices`, 'cgroup', 'rw,devices'),
  ].join('\n');

const unifiedMounts = (r: string): string => [`23 1 0:22 / /sys rw - sysfs sysfs rw`, line(30, r, 'cgroup2', 'rw,nsdelegate,memory_recursiveprot')].join('\n');

describe('oci/cgroup-host: layout and controllers', () => {
  let root: string;
  beforeEach(async () => {
    root = join(await tempDir(), 'sys', 'fs', 'cgroup');
    await mkdir(join(root, 'unified'), { recursive: true });
    await writeFile(join(root, 'unified', 'cgroup.controllers'), 'hugetlb\n');
    await writeFile(join(root, 'unified', 'cgroup.subtree_control'), '\n');
  });

  const cases: { what: string; mountinfo: (r: string) => string; setup?: (r: string) => Promise<void>; layout: CgroupHost['layout']; controllers: string[] }[] = [
    {
      what: "hybrid (this host's): the v1 hierarchies, not the cgroup2 side's hugetlb",
      mountinfo: hybrid,
      layout: 'hybrid',
      controllers: ['blkio', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'pids'],
    },
    {
      what: 'v1: co-mounted hierarchies count each controller; named ones (name=systemd) none',
      mountinfo: legacy,
      layout: 'v1',
      controllers: ['cpu', 'cpuacct', 'cpuset', 'devices', 'hugetlb', 'memory', 'net_cls', 'net_prio', 'pids'],
    },
    {
      what: "unified: the root's cgroup.controllers",
      mountinfo: unifiedMounts,
      setup: (r) => writeFile(join(r, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n'),
      layout: 'unified',
      controllers: ['cpu', 'cpuset', 'hugetlb', 'io', 'memory', 'misc', 'pids', 'rdma'],
    },
    {
      what: 'unified, delegated without hugetlb or cpuset (a nested runtime)',
      mountinfo: unifiedMounts,
      setup: (r) => writeFile(join(r, 'cgroup.controllers'), 'cpu memory pids\n'),
      layout: 'unified',
      controllers: ['cpu', 'memory', 'pids'],
    },
    { what: 'no cgroup mount at all', mountinfo: () => '23 1 0:22 / /sys rw - sysfs sysfs rw', layout: 'none', controllers: [] },
    {
      what: 'cgroup2 mounted elsewhere than the root alone is not unified',
      mountinfo: (r) => line(30, `${r}-elsewhere`, 'cgroup2', 'rw'),
      layout: 'none',
      controllers: [],
    },
  ];
  for (const c of cases) {
    it(c.what, async () => {
      await c.setup?.(root);
      const host = await detectCgroups({ mountinfo: c.mountinfo(root), cgroupRoot: root });
      assert.equal(host.layout, c.layout);
      assert.deepEqual(host.controllers, c.controllers);
    });
  }

  it('hybrid: each controller with its mount point, and the cgroup2 side described but not used', async () => {
    const host = await detectCgroups({ mountinfo: hybrid(root), cgroupRoot: root });
    assert.equal(host.v1.memory?.mountpoint, join(root, 'memory'));
    assert.equal(host.v1.hugetlb, undefined);
    assert.deepEqual(host.v2, { mountpoint: join(root, 'unified'), root: '/', controllers: ['hugetlb'], subtreeControl: [] });
    const described = describeCgroups(host) as { layout: string; controllers: string[]; cgroup2: { usedForLimits: boolean; controllers: string[] } };
    assert.equal(described.layout, 'hybrid');
    assert.deepEqual(described.cgroup2.controllers, ['hugetlb']);
    assert.equal(described.cgroup2.usedForLimits, false);
  });

  it('unified: subtree_control is read too', async () => {
    await writeFile(join(root, 'cgroup.controllers'), 'cpu memory pids\n');
    await writeFile(join(root, 'cgroup.subtree_control'), 'memory pids\n');
    const host = await detectCgroups({ mountinfo: unifiedMounts(root), cgroupRoot: root });
    assert.deepEqual(host.v2?.subtreeControl, ['memory', 'pids']);
    assert.deepEqual(host.v1, {});
  });

  it('the first mount of a controller wins; octal escapes in mount points are decoded', () => {
    const mounts = cgroupMounts([line(1, '/a\\040b/memory', 'cgroup', 'rw,memory'), line(2, '/other/memory', 'cgroup', 'rw,memory')].join('\n'));
    assert.deepEqual(mounts.map((m) => m.mountpoint), ['/a b/memory', '/other/memory']);
  });

  it('reads this host as it is', async () => {
    const host = await detectCgroups();
    assert.ok(['v1', 'hybrid', 'unified'].includes(host.layout), host.layout);
    for (const c of ['cpu', 'memory', 'pids']) assert.ok(host.controllers.includes(c), `${c} in ${host.controllers}`);
  });
});

describe('oci/cgroup-host: a process cgroup dir', () => {
  const v1Host: CgroupHost = {
    layout: 'hybrid',
    controllers: ['cpu', 'cpuacct', 'memory', 'pids'],
    v1: { cpu: { mountpoint: '/cg/cpu,cpuacct', root: '/' }, cpuacct: { mountpoint: '/cg/cpu,cpuacct', root: '/' }, memory: { mountpoint: '/cg/memory', root: '/docker/abc' }, pids: { mountpoint: '/cg/pids', root: '/' } },
  };
  const v2Host: CgroupHost = { layout: 'unified', controllers: ['cpu', 'memory'], v1: {}, v2: { mountpoint: '/cg', root: '/', controllers: ['cpu', 'memory'], subtreeControl: [] } };
  const v1Proc = ['12:pids:/kubepods/pod1/c1', '4:memory:/docker/abc/kubepods/pod1/c1', '3:cpu,cpuacct:/kubepods/pod1/c1', '1:name=systemd:/x', '0::/x'].join('\n');
  const cases: [string, CgroupHost, string, string, string | undefined][] = [
    ['v1: a co-mounted hierarchy', v1Host, v1Proc, 'cpuacct', '/cg/cpu,cpuacct/kubepods/pod1/c1'],
    ['v1: the mount shows part of the hierarchy (its root field)', v1Host, v1Proc, 'memory', '/cg/memory/kubepods/pod1/c1'],
    ['v1: pids', v1Host, v1Proc, 'pids', '/cg/pids/kubepods/pod1/c1'],
    ['v1: a controller the host has no hierarchy for', v1Host, v1Proc, 'hugetlb', undefined],
    ['unified: the 0:: line, whatever the controller', v2Host, '0::/kubepods/burstable/pod1/c1\n', 'memory', '/cg/kubepods/burstable/pod1/c1'],
    ['unified: no 0:: line', v2Host, '3:cpu:/x\n', '', undefined],
  ];
  for (const [what, host, proc, controller, want] of cases) it(what, () => assert.equal(cgroupDir(host, proc, controller), want));
});
