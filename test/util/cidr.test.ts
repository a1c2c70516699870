import assert from 'node:assert/strict';
import { parseCidr } from '../../src/util/cidr.js';

describe('util/cidr', () => {
  const good: [string, number, number][] = [
    ['10.88.0.0/16', 4, 16],
    ['0.0.0.0/0', 4, 0],
    ['192.168.1.7/32', 4, 32],
    ['fd00::/64', 6, 64],
    ['::/128', 6, 128],
  ];
  for (const [text, family, prefix] of good) {
    it(`parses ${text}`, () => {
      assert.deepEqual(parseCidr(text), { family, address: text.split('/')[0], prefix });
    });
  }
  const bad: [string, RegExp][] = [
    ['10.0.0.0', /no \/prefix/],
    ['10.0.0.0/33', /prefix must be 0 to 32/],
    ['fd00::/129', /prefix must be 0 to 128/],
    ['10.0.0/8', /not an IP address/],
    ['10.0.0.0/x', /prefix/],
    ['10.0.0.0/-1', /prefix/],
  ];
  for (const [text, re] of bad) {
    it(`rejects ${text}`, () => {
      const r = parseCidr(text);
      assert.equal(typeof r, 'string');
      assert.match(r as string, re);
    });
  }
});
