import assert from 'node:assert/strict';
import { identityMemo } from '../../src/cri/identity-memo.js';

describe('cri/identity-memo: one conversion per record object', () => {
  it('the same object converts once and gives the same result; a new object (a changed record) converts anew', () => {
    let calls = 0;
    const convert = identityMemo((r: { id: string; state: string }) => {
      calls++;
      return { id: r.id, state: `S_${r.state}` };
    });
    const a = { id: 'a', state: 'RUNNING' };
    const first = convert(a);
    assert.equal(convert(a), first);
    assert.equal(calls, 1);
    // Stores replace a record on change: the new object is converted, the old result unchanged.
    const a2 = { ...a, state: 'EXITED' };
    assert.deepEqual(convert(a2), { id: 'a', state: 'S_EXITED' });
    assert.deepEqual(first, { id: 'a', state: 'S_RUNNING' });
    assert.equal(calls, 2);
  });
});
