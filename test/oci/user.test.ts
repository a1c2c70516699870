import assert from 'node:assert/strict';
import { resolveUser, type UserRequest } from '../../src/oci/user.js';

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
