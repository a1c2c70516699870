import assert from 'node:assert/strict';
import { buildSpec, type SpecInput } from '../../src/oci/spec.js';

const input = (over: Partial<SpecInput> = {}): SpecInput => ({
  rootfs: '/r',
  readonlyRootfs: false,
  args: ['/bin/true'],
  env: [],
  cwd: '/',
  terminal: false,
  user: { uid: 0, gid: 0, additionalGids: [] },
  capAdd: [],
  capDrop: [],
  allCapabilities: [],
  privileged: false,
  noNewPrivileges: false,
  namespaces: { net: { path: '/pins/net' }, ipc: 'new', uts: 'host', pid: 'new' },
  podFiles: { resolvConf: '/p/resolv.conf', hostname: '/p/hostname', hosts: '/p/hosts' },
  mounts: [],
  cgroupsPath: '/kubepods/burstable/pod1/c1',
  resources: {},
  devices: [],
  annotations: {},
  ...over,
});

describe('oci/spec: cgroups', () => {
  const cases: [string, SpecInput['namespaces']['cgroup'], string[]][] = [
    ["v1 and hybrid hosts: the host's cgroup namespace, as before", undefined, ['mount', 'pid', 'network', 'ipc']],
    ['unified: a cgroup namespace of its own', 'new', ['mount', 'pid', 'network', 'ipc', 'cgroup']],
    ['asked for the host one', 'host', ['mount', 'pid', 'network', 'ipc']],
  ];
  for (const [what, cgroup, want] of cases) {
    it(what, () => {
      const spec = buildSpec(input({ namespaces: { net: { path: '/pins/net' }, ipc: 'new', uts: 'host', pid: 'new', ...(cgroup ? { cgroup } : {}) } }));
      assert.deepEqual(spec.linux.namespaces.map((n) => n.type), want);
    });
  }

  it("the cgroups path is kubelet's cgroupfs parent and the id as given, on any layout", () => {
    assert.equal(buildSpec(input()).linux.cgroupsPath, '/kubepods/burstable/pod1/c1');
  });
});
