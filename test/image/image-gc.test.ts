import assert from 'node:assert/strict';
import { childrenFirst, referenced, unreferenced } from '../../src/image/image-gc.js';

type Image = { content: string[]; layers: { chainId: string }[] };
type Held = { digests: string[] };

describe('image/gc set arithmetic', () => {
  const img = (content: string[], chains: string[]): Image => ({ content, layers: chains.map((chainId) => ({ chainId })) });
  // [what, chains the snapshotter holds (active snapshots', leases'), images, leases' content, want digests, want chains]
  const cases: [string, string[], Image[], Held[], string[], string[]][] = [
    ['nothing holds anything', [], [], [], [], []],
    ['an image holds its content and its layers\' chains', [], [img(['m', 'c', 'l1'], ['x1'])], [], ['m', 'c', 'l1'], ['x1']],
    ['the snapshotter holds chains only', ['x9'], [], [], [], ['x9']],
    ['a lease holds the content a pull has fetched so far (its chains through the snapshotter)', [], [], [{ digests: ['m', 'l2'] }], ['m', 'l2'], []],
    [
      'all three together, shared items once',
      ['x1', 'x3'],
      [img(['m1', 'c1', 'l1'], ['x1']), img(['m2', 'c2', 'l1', 'l2'], ['x1', 'x2'])],
      [{ digests: ['m3', 'l1'] }, { digests: [] }],
      ['m1', 'c1', 'l1', 'm2', 'c2', 'l2', 'm3'],
      ['x1', 'x3', 'x2'],
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

  // [what, layers as [chainId, parent], want order]
  const orders: [string, [string, string | undefined][], string[]][] = [
    ['none', [], []],
    ['a chain listed parent first goes child first', [['a', undefined], ['b', 'a'], ['c', 'b']], ['c', 'b', 'a']],
    ['a parent not among them counts as none', [['b', 'a'], ['c', 'b']], ['c', 'b']],
    ['two branches over one base: the base last', [['a', undefined], ['b', 'a'], ['x', 'a'], ['y', 'x']], ['y', 'b', 'x', 'a']],
    ['a cycle (a hand-edited info) ends', [['a', 'b'], ['b', 'a']], ['a', 'b']],
  ];
  for (const [what, layers, want] of orders) {
    it(`childrenFirst: ${what}`, () => {
      const got = childrenFirst(layers.map(([chainId, parent]) => ({ chainId, parent }))).map((l) => l.chainId);
      assert.deepEqual(got, want);
      const at = new Map(got.map((c, i) => [c, i]));
      for (const [c, p] of layers) if (p !== undefined && at.has(p) && !(at.get(p)! > at.get(c)! || what.includes('cycle'))) assert.fail(`${p} before its child ${c}`);
    });
  }
});
