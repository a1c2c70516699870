import assert from 'node:assert/strict';
import { toResources } from '../../src/cri/container-convert.js';
import type { LinuxContainerResources__Output } from '../../src/generated/runtime/v1/LinuxContainerResources.js';
import type { CgroupHost } from '../../src/oci/cgroup-host.js';
import { fitResources } from '../../src/oci/cgroup-resources.js';
import { resources } from '../../src/oci/spec.js';

/** kubelet v1.26's CreateContainer resources for a BestEffort container, as Coracle receives them. */
const KUBELET_BESTEFFORT: LinuxContainerResources__Output = {
  cpu_period: '0',
  cpu_quota: '0',
  cpu_shares: '2',
  memory_limit_in_bytes: '0',
  oom_score_adj: '1000',
  cpuset_cpus: '',
  cpuset_mems: '',
  hugepage_limits: [
    { page_size: '2MB', limit: '0' },
    { page_size: '1GB', limit: '0' },
  ],
  unified: {},
  memory_swap_limit_in_bytes: '0',
};

/** A Guaranteed one under the static cpu manager: quota, a cpuset, a memory limit. */
const KUBELET_PINNED: LinuxContainerResources__Output = {
  ...KUBELET_BESTEFFORT,
  cpu_period: '100000',
  cpu_quota: '200000',
  cpu_shares: '2048',
  memory_limit_in_bytes: String(256 << 20),
  oom_score_adj: '-997',
  cpuset_cpus: '2-3',
  cpuset_mems: '0',
};

const DEVICE = { path: '/dev/fuse', containerPath: '/dev/fuse', type: 'c' as const, major: 10, minor: 229, fileMode: 0o666, permissions: 'rwm' };
const HUGEPAGES_0 = [
  { pageSize: '2MB', limit: 0 },
  { pageSize: '1GB', limit: 0 },
];
const DEVICES = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' },
];

type Host = Pick<CgroupHost, 'layout' | 'controllers'>;
const HYBRID: Host = { layout: 'hybrid', controllers: ['blkio', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'pids'] };
const LEGACY: Host = { layout: 'v1', controllers: ['cpu', 'cpuacct', 'cpuset', 'devices', 'hugetlb', 'memory', 'pids'] };
const UNIFIED: Host = { layout: 'unified', controllers: ['cpu', 'cpuset', 'hugetlb', 'io', 'memory', 'pids'] };
const UNIFIED_BARE: Host = { layout: 'unified', controllers: ['memory', 'pids'] };
const V1_BARE: Host = { layout: 'v1', controllers: ['memory'] };

describe('oci/cgroup-resources: fitResources', () => {
  const cases: { what: string; request: LinuxContainerResources__Output; host: Host; want: Record<string, unknown>; leftOut: string[] }[] = [
    {
      what: "kubelet's BestEffort on this hybrid host: hugepage limits left out, cpu shares and devices kept",
      request: KUBELET_BESTEFFORT,
      host: HYBRID,
      want: { cpu: { shares: 2 }, devices: DEVICES },
      leftOut: ['hugepageLimits:hugetlb'],
    },
    {
      what: "kubelet's BestEffort on a v1 host with hugetlb: all kept",
      request: KUBELET_BESTEFFORT,
      host: LEGACY,
      want: { cpu: { shares: 2 }, hugepageLimits: HUGEPAGES_0, devices: DEVICES },
      leftOut: [],
    },
    {
      what: "kubelet's BestEffort on unified with hugetlb: all kept, devices through eBPF",
      request: KUBELET_BESTEFFORT,
      host: UNIFIED,
      want: { cpu: { shares: 2 }, hugepageLimits: HUGEPAGES_0, devices: DEVICES },
      leftOut: [],
    },
    {
      what: 'pinned Guaranteed on hybrid: quota, cpuset and memory kept, hugepages out',
      request: KUBELET_PINNED,
      host: HYBRID,
      want: { cpu: { shares: 2048, quota: 200000, period: 100000, cpus: '2-3', mems: '0' }, memory: { limit: 256 << 20 }, devices: DEVICES },
      leftOut: ['hugepageLimits:hugetlb'],
    },
    {
      what: 'pinned Guaranteed on a delegated unified tree with memory and pids only: cpu and cpuset out, devices kept',
      request: KUBELET_PINNED,
      host: UNIFIED_BARE,
      want: { memory: { limit: 256 << 20 }, devices: DEVICES },
      leftOut: ['cpu.shares:cpu', 'cpu.quota:cpu', 'cpu.period:cpu', 'cpu.cpus:cpuset', 'cpu.mems:cpuset', 'hugepageLimits:hugetlb'],
    },
    {
      what: 'a v1 host with memory only: devices out too (no devices hierarchy)',
      request: KUBELET_PINNED,
      host: V1_BARE,
      want: { memory: { limit: 256 << 20 } },
      leftOut: ['cpu.shares:cpu', 'cpu.quota:cpu', 'cpu.period:cpu', 'cpu.cpus:cpuset', 'cpu.mems:cpuset', 'hugepageLimits:hugetlb', 'devices:devices'],
    },
    {
      what: 'no cgroups at all: nothing is left',
      request: KUBELET_BESTEFFORT,
      host: { layout: 'none', controllers: [] },
      want: {},
      leftOut: ['cpu.shares:cpu', 'hugepageLimits:hugetlb', 'devices:devices'],
    },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const oci = resources(toResources(c.request), [DEVICE], false);
      const fitted = fitResources(oci, c.host);
      assert.deepEqual(fitted.resources, c.want);
      assert.deepEqual(fitted.leftOut.map((l) => `${l.resource}:${l.controller}`), c.leftOut);
    });
  }

  it('an update (no devices) on hybrid: only the hugepage limits go', () => {
    const fitted = fitResources(resources({ ...toResources(KUBELET_PINNED), pidsLimit: 100 }, undefined, false), HYBRID);
    assert.deepEqual(Object.keys(fitted.resources).sort(), ['cpu', 'memory', 'pids']);
    assert.deepEqual(fitted.leftOut, [{ resource: 'hugepageLimits', controller: 'hugetlb' }]);
  });

  it('what it does not know (blockIO, unified) is passed on as it is', () => {
    const fitted = fitResources({ blockIO: { weight: 10 }, unified: { 'memory.high': '1' } }, { layout: 'none', controllers: [] });
    assert.deepEqual(fitted, { resources: { blockIO: { weight: 10 }, unified: { 'memory.high': '1' } }, leftOut: [] });
  });
});
