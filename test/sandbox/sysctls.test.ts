import assert from 'node:assert/strict';
import { CoracleError } from '../../src/errors.js';
import { sysctlNamespace, vetSysctls, type SysctlNamespace } from '../../src/sandbox/sysctls.js';

describe('sandbox/sysctls', () => {
  const namespaces: [string, SysctlNamespace | undefined][] = [
    ['net.ipv4.ip_forward', 'net'],
    ['net/ipv4/ping_group_range', 'net'],
    ['kernel.shmmax', 'ipc'],
    ['kernel.shm_rmid_forced', 'ipc'],
    ['kernel.msgmnb', 'ipc'],
    ['kernel.sem', 'ipc'],
    ['fs.mqueue.msg_max', 'ipc'],
    ['kernel.hostname', 'uts'],
    ['kernel.domainname', 'uts'],
    ['kernel.shmmaxx', undefined],
    ['kernel.pid_max', undefined],
    ['vm.overcommit_memory', undefined],
    ['fs.file-max', undefined],
  ];
  for (const [name, want] of namespaces) {
    it(`${name} is ${want ?? 'not namespaced'}`, () => assert.equal(sysctlNamespace(name), want));
  }

  const own = { net: true, ipc: true, uts: true };
  const hostNet = { net: false, ipc: true, uts: true };
  const refused: [string, Record<string, string>, Record<SysctlNamespace, boolean>, string][] = [
    ['a name with no dot', { hostname: 'x' }, own, 'sysctl "hostname": bad name'],
    ['a name that climbs', { 'net..ipv4': '1' }, own, 'sysctl "net..ipv4": bad name'],
    ['a name with a space', { 'net.ipv4.ip forward': '1' }, own, 'sysctl "net.ipv4.ip forward": bad name'],
    ['a value with a newline', { 'net.ipv4.ip_forward': '1\nkernel.pid_max=1' }, own, 'sysctl net.ipv4.ip_forward: value has a newline'],
    ['a node-wide one', { 'vm.swappiness': '10' }, own, 'sysctl vm.swappiness: not namespaced, it would change the node'],
    ["a net one in the host's network", { 'net.ipv4.ip_forward': '1' }, hostNet, "sysctl net.ipv4.ip_forward: needs the pod's own net namespace, but the pod uses the host's"],
  ];
  for (const [what, sysctls, namespacesOwned, message] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => vetSysctls(sysctls, namespacesOwned),
        (err: unknown) => err instanceof CoracleError && err.code === 'INVALID_ARGUMENT' && err.message === message,
      );
    });
  }

  it('passes namespaced sysctls of namespaces the pod owns, as given', () => {
    const sysctls = { 'net.ipv4.ip_forward': '1', 'kernel.shmmni': '4096', 'kernel.domainname': 'example' };
    assert.equal(vetSysctls(sysctls, own), sysctls);
    assert.deepEqual(vetSysctls({ 'kernel.msgmax': '8192' }, hostNet), { 'kernel.msgmax': '8192' });
  });
});
