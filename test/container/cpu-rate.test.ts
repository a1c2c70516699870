import assert from 'node:assert/strict';
import { CpuRate } from '../../src/container/cpu-rate.js';

describe('container: CPU rate from cumulative readings', () => {
  const s = 1_000_000_000n;
  const cases: { name: string; readings: [bigint, bigint][]; rates: (bigint | undefined)[] }[] = [
    { name: 'a first reading has none', readings: [[10n * s, 5n * s]], rates: [undefined] },
    { name: 'half a core over two seconds', readings: [[10n * s, 5n * s], [12n * s, 6n * s]], rates: [undefined, 500_000_000n] },
    { name: 'two cores over half a second', readings: [[10n * s, s], [10n * s + s / 2n, 2n * s]], rates: [undefined, 2n * s] },
    { name: 'a clock that did not move', readings: [[10n * s, s], [10n * s, 2n * s]], rates: [undefined, undefined] },
    { name: 'a counter that went back (the container ran again), then a rate from there', readings: [[10n * s, 9n * s], [11n * s, s], [12n * s, 2n * s]], rates: [undefined, undefined, s] },
    { name: 'a zero reading (nothing read) is neither rated nor kept', readings: [[10n * s, 4n * s], [11n * s, 0n], [12n * s, 5n * s]], rates: [undefined, undefined, 500_000_000n] },
    {
      name: 'readings closer than the interval are rated against the kept one, which stays',
      readings: [[10n * s, 4n * s], [10n * s + s / 10n, 4n * s + s / 10n], [11n * s, 5n * s]],
      rates: [undefined, s, s],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = new CpuRate();
      assert.deepEqual(c.readings.map(([at, cpu]) => r.sample('c1', at, cpu)), c.rates);
    });
  }

  it('keeps containers apart and forgets a removed one', () => {
    const r = new CpuRate();
    r.sample('a', s, s);
    r.sample('b', s, s);
    assert.equal(r.sample('a', 2n * s, 2n * s), s);
    r.forget('b');
    assert.equal(r.sample('b', 2n * s, 2n * s), undefined);
  });
});
