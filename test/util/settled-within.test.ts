import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { settledWithin } from '../../src/util/settled-within.js';

const run = promisify(execFile);

describe('util/settled-within', () => {
  const never = new Promise<void>(() => undefined);
  const cases: { name: string; work: () => Promise<unknown>; ms: number; timedOut: boolean }[] = [
    { name: 'work fulfilled first', work: () => Promise.resolve(42), ms: 60_000, timedOut: false },
    { name: 'work rejected first: no rejection', work: () => Promise.reject(new Error('boom')), ms: 60_000, timedOut: false },
    { name: 'work fulfilled later, within ms', work: () => new Promise((r) => setTimeout(r, 20)), ms: 60_000, timedOut: false },
    { name: 'work that never settles: after ms', work: () => never, ms: 30, timedOut: true },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      let settled = false;
      const work = c.work();
      work.then(() => (settled = true), () => (settled = true));
      const started = Date.now();
      await settledWithin(work, c.ms);
      // A later tick: the work's own handlers have run if it has settled.
      await new Promise((r) => setImmediate(r));
      assert.equal(settled, !c.timedOut);
      if (c.timedOut) assert.ok(Date.now() - started >= c.ms - 1, 'not before ms');
      else assert.ok(Date.now() - started < 30_000, 'without waiting out ms');
    });
  }

  it('leaves no timer behind: a process with only a settled call in it exits at once', async () => {
    // A timer left running for 60 s would hold this child that long; mocha's timeout is lower.
    const mod = new URL('../../src/util/settled-within.js', import.meta.url).pathname;
    await run(process.execPath, ['--input-type=module', '-e', `const { settledWithin } = await import(${JSON.stringify(mod)}); await settledWithin(Promise.resolve(), 60000);`], { timeout: 20_000 });
  });
});
