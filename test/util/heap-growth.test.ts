import assert from 'node:assert/strict';
import { HeapGrowth, startPercent, widePercent } from '../../src/util/heap-growth.js';

const MiB = 1 << 20;

describe('util/heap-growth', () => {
  for (const [argv, want] of [
    [['--max-semi-space-size=1', '--heap-growing-percent=15', '--expose-gc'], 15],
    [['--heap-growing-percent=0'], undefined],
    [['--heap-growing-percent=abc'], undefined],
    [['--heap-growing-percent'], undefined],
    [[], undefined],
  ] as const) {
    it(`startPercent(${JSON.stringify(argv)}) is ${want}`, () => assert.equal(startPercent(argv), want));
  }

  for (const [normal, heapMiB, want] of [
    [15, 8, 800], // 64 MiB more over an 8 MiB heap
    [15, 5, 1000], // capped: an 11x factor at most
    [15, 0, 1000], // a heap under 1 MiB counts as 1 MiB
    [15, 64, 100],
    [15, 1024, 15], // never below the daemon's own
    [300, 64, 300],
  ] as const) {
    it(`widePercent(${normal}, ${heapMiB} MiB) is ${want}`, () => assert.equal(widePercent(normal, heapMiB * MiB), want));
  }

  it('widens for the first holder and puts the normal percent back after the last, each release counted once', () => {
    const set: string[] = [];
    const growth = new HeapGrowth({ normal: 15, heapUsed: () => 8 * MiB, set: (f) => set.push(f) });
    const a = growth.widen();
    const b = growth.widen();
    assert.deepEqual(set, ['--heap-growing-percent=800'], 'widened once for two overlapping pulls');
    a();
    a();
    assert.deepEqual(set, ['--heap-growing-percent=800'], 'one pull still runs: a second release of the first does not count');
    b();
    assert.deepEqual(set, ['--heap-growing-percent=800', '--heap-growing-percent=15']);
    growth.widen()();
    assert.deepEqual(set.slice(2), ['--heap-growing-percent=800', '--heap-growing-percent=15'], 'and again for the next pull');
  });

  it('does nothing in a process started without the flag (V8 sizes its heap itself there)', () => {
    const set: string[] = [];
    const growth = new HeapGrowth({ normal: undefined, heapUsed: () => 8 * MiB, set: (f) => set.push(f) });
    growth.widen()();
    assert.deepEqual(set, []);
  });
});
