import assert from 'node:assert/strict';
import { ExitWaiters } from '../../src/container/exit-waiters.js';

describe('container: exit waiters', () => {
  it('a wake ends every wait on that container, and only those', async () => {
    const w = new ExitWaiters();
    const settled: string[] = [];
    const a1 = w.wait('a', 60_000);
    const a2 = w.wait('a', 60_000);
    const b = w.wait('b', 60_000);
    void a1.done.then(() => settled.push('a1'));
    void a2.done.then(() => settled.push('a2'));
    void b.done.then(() => settled.push('b'));
    w.wake('a');
    await Promise.all([a1.done, a2.done]);
    assert.deepEqual(settled.sort(), ['a1', 'a2']);
    assert.equal(w.size, 1, 'b still waits');
    b.cancel();
    await b.done;
    assert.equal(w.size, 0, 'nothing left behind');
  });

  it('a wait with no wake ends after its own time (an exit event that never came)', async () => {
    const w = new ExitWaiters();
    const t = process.hrtime.bigint();
    await w.wait('x', 30).done;
    assert.ok(process.hrtime.bigint() - t >= 29_000_000n, 'not before its time');
    assert.equal(w.size, 0);
  });

  it('a wake with nobody waiting is a no-op, and a wait taken after it is not woken by it', async () => {
    const w = new ExitWaiters();
    w.wake('y');
    const late = w.wait('y', 60_000);
    let woke = false;
    void late.done.then(() => (woke = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(woke, false);
    late.cancel();
    await late.done;
    assert.equal(w.size, 0);
  });
});
