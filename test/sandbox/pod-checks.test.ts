import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { CoracleError } from '../../src/errors.js';
import { pinNamespaces } from '../../src/sandbox/namespace-pins.js';
import { vetPodSpec } from '../../src/sandbox/pod-checks.js';
import type { SandboxSpec } from '../../src/sandbox/sandbox-service.js';
import { tempDir } from '../helpers/daemon.js';

const isInvalid = (message: RegExp) => (err: unknown): boolean => {
  assert.ok(err instanceof CoracleError, String(err));
  assert.equal(err.code, 'INVALID_ARGUMENT', err.message);
  assert.match(err.message, message);
  return true;
};

describe('sandbox/pod-checks: vetPodSpec', () => {
  const spec = (o: { name?: string; namespace?: string; uid?: string; hostIp?: string } = {}): SandboxSpec => ({
    metadata: { name: o.name ?? 'web-0', namespace: o.namespace ?? 'default', uid: o.uid ?? '6f1c2a4e-0d7b-4d5e-9b8a-3c2f1e0d9a8b', attempt: 0 },
    hostname: 'web-0', logDirectory: '', runtimeHandler: '', labels: { 'a;b': 'c=d' }, annotations: {}, dns: { servers: [], searches: [], options: [] },
    portMappings: o.hostIp === undefined ? [] : [{ protocol: 'tcp', containerPort: 80, hostPort: 8080, hostIp: o.hostIp }],
    namespaces: { network: 'POD', ipc: 'POD', pid: 'CONTAINER' }, sysctls: {}, cgroupParent: '',
  });
  const accepted: [string, SandboxSpec][] = [
    ["kubelet's names (labels may hold anything)", spec()],
    ['a host_ip of IPv4', spec({ hostIp: '127.0.0.1' })],
    ['a host_ip of IPv6', spec({ hostIp: '::1' })],
    ['no host_ip', spec({ hostIp: '' })],
  ];
  for (const [what, s] of accepted) it(`accepts ${what}`, () => vetPodSpec(s));

  const refused: [string, SandboxSpec, RegExp][] = [
    ['a name with ";" (CNI_ARGS would split it: "invalid pair")', spec({ name: 'a;K8S_POD_NAME=evil' }), /^sandbox metadata: name "a;K8S_POD_NAME=evil": holds ";" or "="/],
    ['a namespace with "="', spec({ namespace: 'x=y' }), /namespace "x=y"/],
    ['a uid with ";"', spec({ uid: 'u;' }), /uid "u;"/],
    ['a host_ip that is no address', spec({ hostIp: 'garbage' }), /^port mapping 8080:80: host_ip "garbage" is not an IP address$/],
    ['a NUL in the hostname', { ...spec(), hostname: 'a\0b' }, /hostname "a\\u0000b" holds a NUL byte/],
  ];
  for (const [what, s, message] of refused) it(`refuses ${what}`, () => assert.throws(() => vetPodSpec(s), isInvalid(message)));
});

describe('sandbox/namespace-pins: a sysctl the kernel refuses is the request\'s fault', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['a value that is not a number', { 'net.ipv4.ip_forward': 'abc' }, /coracle-pinns: sysctl net\.ipv4\.ip_forward: write: Invalid argument \(the kernel refused it\)$/],
    ['a value past the int range', { 'net.core.somaxconn': '99999999999999' }, /sysctl net\.core\.somaxconn: write: Invalid argument/],
    ['a negative value of an ipc sysctl', { 'kernel.shmmni': '-5' }, /sysctl kernel\.shmmni: write/],
    ['a namespaced name the kernel has not', { 'net.ipv4.no_such_sysctl': '1' }, /sysctl net\.ipv4\.no_such_sysctl: open \/proc\/sys\/net\/ipv4\/no_such_sysctl: No such file/],
  ];
  for (const [what, sysctls, message] of cases) {
    it(`${what}: INVALID_ARGUMENT naming it, and no pin left`, async () => {
      const dir = await tempDir();
      await assert.rejects(pinNamespaces({ dir, net: true, ipc: true, uts: false, sysctls }, 'sandbox t: namespaces'), isInvalid(message));
      assert.deepEqual(await readdir(dir), []);
    });
  }
});
