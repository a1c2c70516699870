import assert from 'node:assert/strict';
import { Deadlines } from '../../src/util/deadlines.js';
import { until } from '../helpers/until.js';

/* Many deadlines on one timer: each fires once, in its time, unless cleared first. */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('util/deadlines: the deadlines of many calls on one timer', () => {
  it('fires each deadline once, none before its time, in the order they fall due', async () => {
    const d = new Deadlines();
    const t0 = performance.now();
    const fired: [string, number][] = [];
    for (const [name, ms] of [['c', 60], ['a', 20], ['b', 40], ['a2', 20]] as const) d.add(ms, () => fired.push([name, performance.now() - t0]));
    await until('all four', () => fired.length === 4);
    assert.deepEqual(fired.map(([n]) => n).sort(), ['a', 'a2', 'b', 'c']);
    assert.deepEqual(fired.map(([n]) => n).slice(2), ['b', 'c']);
    for (const [name, at] of fired) assert.ok(at >= { a: 20, a2: 20, b: 40, c: 60 }[name]!, `${name} at ${at} ms`);
    await sleep(30);
    assert.equal(fired.length, 4, 'none twice');
  });

  it('a cleared deadline never fires; one that falls due after it still does (the timer armed for the first is re-armed)', async () => {
    const d = new Deadlines();
    const fired: string[] = [];
    const first = d.add(10, () => fired.push('first'));
    d.add(40, () => fired.push('second'));
    d.clear(first);
    d.clear(undefined);
    await until('the second', () => fired.length > 0);
    assert.deepEqual(fired, ['second']);
  });

  it('a deadline added earlier than the one the timer waits for fires first', async () => {
    const d = new Deadlines();
    const fired: string[] = [];
    d.add(80, () => fired.push('late'));
    d.add(10, () => fired.push('early'));
    await until('both', () => fired.length === 2);
    assert.deepEqual(fired, ['early', 'late']);
  });

  it("a deadline past Node's timer limit (2^31 ms) does not fire at once, and its timer is armed within the limit", async () => {
    // Node takes a longer delay as 1 ms, with a TimeoutOverflowWarning.
    const warnings: string[] = [];
    const onWarning = (w: Error): number => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const d = new Deadlines(() => 0);
      let fired = false;
      d.add(30 * 24 * 3600 * 1000, () => (fired = true));
      await sleep(30);
      assert.equal(fired, false);
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it("a deadline whose expire throws does not keep the others due with it from running; the throw is the timer's", async () => {
    let now = 0;
    const d = new Deadlines(() => now);
    const fired: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      d.add(5, () => {
        fired.push(name);
        if (name === 'a') throw new Error('boom');
      });
    }
    // All three due at the timer's one firing.
    now = 10;
    // Caught here, not by mocha's own handler: put back after.
    const theirs = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const thrown: Error[] = [];
    process.on('uncaughtException', (err) => thrown.push(err));
    try {
      await until('all three', () => fired.length === 3);
      await until('the throw', () => thrown.length === 1);
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const l of theirs) process.on('uncaughtException', l);
    }
    assert.deepEqual(fired, ['a', 'b', 'c']);
    assert.equal(thrown[0]!.message, 'boom');
  });

  it('a deadline that expires may add another', async () => {
    const d = new Deadlines();
    const fired: string[] = [];
    d.add(5, () => {
      fired.push('first');
      d.add(5, () => fired.push('second'));
    });
    await until('both', () => fired.length === 2);
    assert.deepEqual(fired, ['first', 'second']);
  });
});
