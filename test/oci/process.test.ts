import assert from 'node:assert/strict';
import { capabilities, capabilitiesOf, DEFAULT_CAPABILITIES } from '../../src/oci/defaults.js';
import { containerArgs, mergeEnv } from '../../src/oci/process-args.js';
import { resolveUser, type UserRequest } from '../../src/oci/user.js';

describe('oci/process-args', () => {
  const image = { entrypoint: ['/entry'], cmd: ['--default'] };
  const cases: [string, { command: string[]; args: string[] }, string[]][] = [
    ['neither: entrypoint and cmd', { command: [], args: [] }, ['/entry', '--default']],
    ['args only: entrypoint with the args', { command: [], args: ['x'] }, ['/entry', 'x']],
    ['command only: the image cmd is dropped', { command: ['/bin/sh'], args: [] }, ['/bin/sh']],
    ['both: command with args', { command: ['/bin/sh'], args: ['-c', 'true'] }, ['/bin/sh', '-c', 'true']],
  ];
  for (const [what, container, want] of cases) {
    it(what, () => assert.deepEqual(containerArgs(image, container), want));
  }
  it('container env overrides the image env by name, keeping order', () => {
    assert.deepEqual(mergeEnv(['PATH=/bin', 'A=1', 'B=2'], [{ key: 'A', value: 'x=y' }, { key: 'C', value: '' }]), ['PATH=/bin', 'A=x=y', 'B=2', 'C=']);
  });
});

describe('oci/defaults: capabilities', () => {
  it('reads a bounding set: CapBnd without CAP_SYS_RESOURCE (bit 24)', () => {
    const caps = capabilitiesOf('000001fffeffffff');
    assert.equal(caps.length, 40);
    assert.ok(!caps.includes('CAP_SYS_RESOURCE') && caps.includes('CAP_SYS_ADMIN') && caps.includes('CAP_CHECKPOINT_RESTORE'));
    assert.deepEqual(capabilitiesOf('0'), []);
    assert.deepEqual(capabilities(['ALL'], [], ['CAP_KILL', 'CAP_CHOWN']), ['CAP_KILL', 'CAP_CHOWN']);
  });
  const cases: [string, string[], string[], (caps: string[]) => void][] = [
    ['the default set', [], [], (c) => assert.deepEqual(c, [...DEFAULT_CAPABILITIES])],
    ['add one, without the prefix', ['sys_admin'], [], (c) => assert.ok(c.includes('CAP_SYS_ADMIN') && c.length === DEFAULT_CAPABILITIES.length + 1)],
    ['drop one', [], ['CAP_CHOWN'], (c) => assert.ok(!c.includes('CAP_CHOWN') && c.length === DEFAULT_CAPABILITIES.length - 1)],
    ['drop ALL, add one', ['NET_BIND_SERVICE'], ['ALL'], (c) => assert.deepEqual(c, ['CAP_NET_BIND_SERVICE'])],
    ['add ALL', ['ALL'], [], (c) => assert.equal(c.length, 41)],
    ['add ALL, drop one', ['ALL'], ['SYS_ADMIN'], (c) => assert.ok(c.length === 40 && !c.includes('CAP_SYS_ADMIN'))],
  ];
  for (const [what, add, drop, check] of cases) it(what, () => check(capabilities(add, drop)));
});

describe('oci/user', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n# comment\nbroken line\nnobody:x:65534:65534::/:/bin/false\n';
  const group = 'root:x:0:\napp:x:1000:\nextra:x:2000:app,other\nwheel:x:10:root,app\nnogroup:x:65534:\n';
  const base: UserRequest = { supplementalGroups: [], imageUser: '' };
  const cases: [string, Partial<UserRequest>, ReturnType<typeof resolveUser> | RegExp][] = [
    ['no user: root, with its groups', {}, { uid: 0, gid: 0, additionalGids: [10], username: 'root' }],
    ['image user by name, with its groups', { imageUser: 'app' }, { uid: 1000, gid: 1000, additionalGids: [2000, 10], username: 'app' }],
    ['image uid with a passwd entry', { imageUser: '1000' }, { uid: 1000, gid: 1000, additionalGids: [2000, 10], username: 'app' }],
    ['image uid without one: gid 0', { imageUser: '4242' }, { uid: 4242, gid: 0, additionalGids: [] }],
    ['image user:group by names', { imageUser: 'app:extra' }, { uid: 1000, gid: 2000, additionalGids: [10], username: 'app' }],
    ['image uid:gid', { imageUser: '5:6' }, { uid: 5, gid: 6, additionalGids: [] }],
    ['run_as_user wins over the image', { imageUser: 'app', runAsUser: 65534 }, { uid: 65534, gid: 65534, additionalGids: [], username: 'nobody' }],
    ['run_as_username', { runAsUsername: 'app' }, { uid: 1000, gid: 1000, additionalGids: [2000, 10], username: 'app' }],
    ['run_as_group over the passwd gid', { runAsUser: 1000, runAsGroup: 3000 }, { uid: 1000, gid: 3000, additionalGids: [2000, 10], username: 'app' }],
    ['supplemental groups added once', { runAsUser: 1000, supplementalGroups: [2000, 5555] }, { uid: 1000, gid: 1000, additionalGids: [2000, 10, 5555], username: 'app' }],
    ['an unknown user name', { imageUser: 'ghost' }, /user "ghost": not found in the image's \/etc\/passwd/],
    ['an unknown group name', { imageUser: 'app:ghosts' }, /group "ghosts": not found/],
  ];
  for (const [what, req, want] of cases) {
    it(what, () => {
      if (want instanceof RegExp) assert.throws(() => resolveUser({ ...base, ...req }, passwd, group), want);
      else assert.deepEqual(resolveUser({ ...base, ...req }, passwd, group), want);
    });
  }
});
