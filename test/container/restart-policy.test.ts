import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BACKOFF_MAX_MS, BACKOFF_RESET_UP_MS, formatRestartPolicy, nextDelay, parseRestartPolicy, restartDue } from '../../src/container/restart-policy.js';

describe("restart-policy: docker's --restart values, when a restart is due, and its backoff", () => {
  it('parses what docker takes, formats it back, and refuses the rest', () => {
    assert.deepEqual(parseRestartPolicy('no'), { kind: 'no' });
    assert.deepEqual(parseRestartPolicy('always'), { kind: 'always' });
    assert.deepEqual(parseRestartPolicy('on-failure'), { kind: 'on-failure', maxRetries: 0 });
    assert.deepEqual(parseRestartPolicy('on-failure:3'), { kind: 'on-failure', maxRetries: 3 });
    for (const text of ['no', 'always', 'on-failure', 'on-failure:3']) assert.equal(formatRestartPolicy(parseRestartPolicy(text)), text);
    for (const bad of ['sometimes', 'on-failure:', 'on-failure:x', 'on-failure:-1', 'always:2', 'unless-stopped ']) {
      assert.throws(() => parseRestartPolicy(bad), (err: Error) => err.message.includes(`"${bad}"`), bad);
    }
  });

  it('on-failure restarts a failure up to its maximum (0: no limit); always, any exit; no, none', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 1, max: 50 }), (code, restarts, max) => {
        assert.equal(restartDue({ kind: 'always' }, code, restarts), true);
        assert.equal(restartDue({ kind: 'no' }, code, restarts), false);
        assert.equal(restartDue({ kind: 'on-failure', maxRetries: 0 }, code, restarts), code !== 0);
        assert.equal(restartDue({ kind: 'on-failure', maxRetries: max }, code, restarts), code !== 0 && restarts < max);
      }),
    );
  });

  it('the delay starts at 100 ms, doubles while runs are short, stops at a minute, and starts over after 10 s up', () => {
    const delays: number[] = [];
    let d = 0;
    for (let i = 0; i < 12; i++) delays.push((d = nextDelay(d, 50)));
    assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, BACKOFF_MAX_MS, BACKOFF_MAX_MS]);
    assert.equal(nextDelay(6400, BACKOFF_RESET_UP_MS), 100);
    assert.equal(nextDelay(6400, BACKOFF_RESET_UP_MS - 1), 12800);
  });
});
