import assert from 'node:assert/strict';
import { referenced, unreferenced } from '../../src/image/image-gc.js';

type Image = { content: string[]; layers: { chainId: string }[] };
type Held = { digests: string[]; chains: string[] };

describe('image/gc set arithmetic', () => {
  const img = (content: string[], chains: string[]): Image => ({ content, layers: chains.map((chainId) => ({ chainId })) });
  // [what, chains in use by containers, images, leases, want digests, want chains]
  const cases: [string, string[], Image[], Held[], string[], string[]][] = [
    ['nothing holds anything', [], [], [], [], []],
    ['an image holds its content and its layers\' chains', [], [img(['m', 'c', 'l1'], ['x1'])], [], ['m', 'c', 'l1'], ['x1']],
    ['containers hold chains only', ['x9'], [], [], [], ['x9']],
    ['a lease holds what a pull has fetched so far', [], [], [{ digests: ['m', 'l2'], chains: ['x2'] }], ['m', 'l2'], ['x2']],
    [
      'all three together, shared items once',
      ['x1', 'x3'],
      [img(['m1', 'c1', 'l1'], ['x1']), img(['m2', 'c2', 'l1', 'l2'], ['x1', 'x2'])],
      [{ digests: ['m3', 'l1'], chains: ['x3', 'x4'] }, { digests: [], chains: [] }],
      ['m1', 'c1', 'l1', 'm2', 'c2', 'l2', 'm3'],
      ['x1', 'x3', 'x2', 'x4'],
    ],
  ];
  for (const [what, inUse, images, leases, digests, chains] of cases) {
    it(`referenced: ${what}`, () => {
      const got = referenced(inUse, images, leases);
      assert.deepEqual([...got.digests].sort(), [...digests].sort());
      assert.deepEqual([...got.chains].sort(), [...chains].sort());
    });
  }

  // [what, present, kept, removed in order]
  const removals: [string, string[], string[], string[]][] = [
    ['nothing present', [], ['a'], []],
    ['everything kept', ['a', 'b'], ['a', 'b', 'c'], []],
    ['nothing kept', ['b', 'a'], [], ['b', 'a']],
    ['the unkept, in the order listed', ['d', 'a', 'c', 'b'], ['a', 'b'], ['d', 'c']],
  ];
  for (const [what, present, kept, removed] of removals) {
    it(`unreferenced: ${what}`, () => assert.deepEqual(unreferenced(present, new Set(kept)), removed));
  }
});
