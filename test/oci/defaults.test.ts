import assert from 'node:assert/strict';
import { capabilities, capabilitiesOf, DEFAULT_CAPABILITIES } from '../../src/oci/defaults.js';

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
