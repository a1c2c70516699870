import assert from 'node:assert/strict';
import { CoracleError } from '../../src/errors.js';
import { vetCgroupParent } from '../../src/sandbox/cgroup-parent.js';

describe('sandbox/cgroup-parent: vetCgroupParent', () => {
  const accepted: [string, string][] = [
    ['none: the default /coracle', ''],
    ["kubelet's cgroupfs driver, BestEffort", '/kubepods/besteffort/pod6f1c2a4e-0d7b-4d5e-9b8a-3c2f1e0d9a8b'],
    ["kubelet's cgroupfs driver, Guaranteed", '/kubepods/pod6f1c2a4e-0d7b-4d5e-9b8a-3c2f1e0d9a8b'],
    ['a cgroupfs path that happens to hold slice names', '/kubepods.slice/kubepods-burstable.slice/x'],
    ['dots inside a name', '/a..b/c.d'],
  ];
  for (const [what, parent] of accepted) it(`accepts ${what}`, () => assert.equal(vetCgroupParent('ns/p', parent), parent));

  const refused: [string, string, RegExp][] = [
    [
      "the systemd driver's slice",
      'kubepods-besteffort-pod6f1c2a4e_0d7b_4d5e_9b8a_3c2f1e0d9a8b.slice',
      /^pod ns\/p: cgroup parent "kubepods-besteffort-pod6f1c2a4e_0d7b_4d5e_9b8a_3c2f1e0d9a8b\.slice" is a systemd slice: Coracle manages cgroups with cgroupfs; set kubelet's cgroupDriver: cgroupfs \(KubeletConfiguration\) or --cgroup-driver=cgroupfs$/,
    ],
    ["the systemd driver's Guaranteed pod slice", 'kubepods-pod1.slice', /is a systemd slice/],
    ['a relative path', 'kubepods/besteffort/pod1', /^pod ns\/p: cgroup parent "kubepods\/besteffort\/pod1" is not an absolute cgroupfs path/],
    ['a ".." step', '/kubepods/../../etc', /has a "\." or "\.\." step/],
    ['a trailing ".."', '/kubepods/..', /has a "\." or "\.\." step/],
    ['a "." step', '/kubepods/./pod1', /has a "\." or "\.\." step/],
    ['a newline', '/kubepods/pod1\n', /NUL or newline/],
  ];
  for (const [what, parent, message] of refused) {
    it(`refuses ${what}: INVALID_ARGUMENT`, () =>
      assert.throws(
        () => vetCgroupParent('ns/p', parent),
        (err: unknown) => err instanceof CoracleError && err.code === 'INVALID_ARGUMENT' && message.test(err.message),
      ));
  }
});
