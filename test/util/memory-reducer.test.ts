import assert from 'node:assert/strict';
import winston from 'winston';
import { DEFAULT_POLICY, TICK_MS, memoryReducer, shouldReduce, type MemorySample, type ReducerState } from '../../src/util/memory-reducer.js';

const MiB = 1 << 20;
const quietLog = winston.createLogger({ silent: true });

describe('util/memory-reducer', () => {
  const p = DEFAULT_POLICY;
  // The last reduction at t=0 left 10 MiB of heap and 60 MiB of RSS.
  const at = (heapPrevTick: number): ReducerState => ({ heapAfterLast: 10 * MiB, rssAfterLast: 60 * MiB, lastAt: 0, heapPrevTick });
  const mem = (heapUsed: number, rss = 60 * MiB): MemorySample => ({ heapUsed, rss });
  const cases: [string, ReducerState, MemorySample, number, boolean][] = [
    ['idle: the heap did not move since the last reduction', at(10 * MiB), mem(10 * MiB + 4096), 60_000, false],
    ['work, then a quiet tick', at(14 * MiB), mem(14 * MiB + 1024), 12_000, true],
    ['work, then a quiet tick, too soon after the last', at(14 * MiB), mem(14 * MiB + 1024), 4_000, false],
    ['work going on, before the longest interval', at(14 * MiB), mem(16 * MiB), 20_000, false],
    ['work going on, at the longest interval', at(14 * MiB), mem(16 * MiB), 30_000, true],
    ['the heap shrank by a collection of V8 of its own, then quiet', at(7 * MiB), mem(7 * MiB), 15_000, true],
    ['the heap back where it was, malloc grown by 6 MiB, then quiet', at(10 * MiB), mem(10 * MiB, 66 * MiB), 15_000, true],
    ['the heap back where it was, malloc grown, too soon after the last', at(10 * MiB), mem(10 * MiB, 66 * MiB), 4_000, false],
    ['the heap back where it was, malloc grown, work going on', at(12 * MiB), mem(10 * MiB, 66 * MiB), 15_000, false],
    ['the RSS grown by less than the work threshold', at(10 * MiB), mem(10 * MiB, 60 * MiB + 512 * 1024), 60_000, false],
    ['the RSS shrank (pages reclaimed), heap unmoved', at(10 * MiB), mem(10 * MiB, 50 * MiB), 60_000, false],
  ];
  for (const [what, state, sample, now, want] of cases) {
    it(`${want ? 'reduces' : 'does not reduce'}: ${what}`, () => {
      assert.equal(shouldReduce(p, state, sample, now), want);
    });
  }

  it('reduces at start: a full collection, then malloc_trim', () => {
    const calls: string[] = [];
    const r = memoryReducer(quietLog, { gc: () => calls.push('gc'), trim: () => calls.push('trim') > 0, memory: () => ({ heapUsed: 0, rss: 0 }), now: () => 0 });
    r.stop();
    assert.deepEqual(calls, ['gc', 'trim']);
  });

  it('a tick that finds malloc grown and the heap quiet reduces again', async () => {
    const calls: string[] = [];
    let clock = 0;
    let rss = 60 * MiB;
    const r = memoryReducer(quietLog, { gc: () => calls.push('gc'), trim: () => calls.push('trim') > 0, memory: () => ({ heapUsed: 10 * MiB, rss }), now: () => clock });
    try {
      // After the reduction at start: 6 MiB more resident, V8's heap unmoved, 10 s later.
      rss += 6 * MiB;
      clock = 10_000;
      await new Promise((resolve) => setTimeout(resolve, TICK_MS + 200));
      assert.deepEqual(calls, ['gc', 'trim', 'gc', 'trim']);
    } finally {
      r.stop();
    }
  });

  it('a failing collection is not fatal', () => {
    const gc = (): void => {
      throw new Error('no');
    };
    assert.doesNotThrow(() => memoryReducer(quietLog, { gc, trim: () => true, memory: () => ({ heapUsed: 0, rss: 0 }), now: () => 0 }).stop());
  });
});
