import assert from 'node:assert/strict';
import winston from 'winston';
import { DEFAULT_POLICY, memoryReducer, shouldReduce, type ReducerState } from '../../src/util/memory-reducer.js';

const MiB = 1 << 20;
const quietLog = winston.createLogger({ silent: true });

describe('util/memory-reducer', () => {
  const p = DEFAULT_POLICY;
  // The last reduction at t=0 left 10 MiB of heap.
  const at = (heapPrevTick: number): ReducerState => ({ heapAfterLast: 10 * MiB, lastAt: 0, heapPrevTick });
  const cases: [string, ReducerState, number, number, boolean][] = [
    ['idle: the heap did not move since the last reduction', at(10 * MiB), 10 * MiB + 4096, 60_000, false],
    ['work, then a quiet tick', at(14 * MiB), 14 * MiB + 1024, 12_000, true],
    ['work, then a quiet tick, too soon after the last', at(14 * MiB), 14 * MiB + 1024, 4_000, false],
    ['work going on, before the longest interval', at(14 * MiB), 16 * MiB, 20_000, false],
    ['work going on, at the longest interval', at(14 * MiB), 16 * MiB, 30_000, true],
    ['the heap shrank by a collection of V8 of its own, then quiet', at(7 * MiB), 7 * MiB, 15_000, true],
  ];
  for (const [what, state, heapUsed, now, want] of cases) {
    it(`${want ? 'reduces' : 'does not reduce'}: ${what}`, () => {
      assert.equal(shouldReduce(p, state, heapUsed, now), want);
    });
  }

  it('reduces at start: a full collection, then malloc_trim', () => {
    const calls: string[] = [];
    const r = memoryReducer(quietLog, { gc: () => calls.push('gc'), trim: () => calls.push('trim') > 0, heapUsed: () => 0, now: () => 0 });
    r.stop();
    assert.deepEqual(calls, ['gc', 'trim']);
  });

  it('a failing collection is not fatal', () => {
    const gc = (): void => {
      throw new Error('no');
    };
    assert.doesNotThrow(() => memoryReducer(quietLog, { gc, trim: () => true, heapUsed: () => 0, now: () => 0 }).stop());
  });
});
