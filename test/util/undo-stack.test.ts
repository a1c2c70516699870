import assert from 'node:assert/strict';
import type { Logger } from '../../src/log.js';
import { UndoStack } from '../../src/util/undo-stack.js';

/** A logger that keeps its error lines (the only level UndoStack uses). */
function fakeLogger(): { log: Logger; errors: { message: string; meta: unknown }[] } {
  const errors: { message: string; meta: unknown }[] = [];
  const log = { error: (message: string, meta: unknown) => errors.push({ message, meta }) } as unknown as Logger;
  return { log, errors };
}

describe('util/undo-stack', () => {
  it('unwinds newest first, awaiting each step, and only once', async () => {
    const done: string[] = [];
    const undo = new UndoStack();
    undo.push('mount', () => done.push('unmount'));
    undo.push('netns', async () => {
      await Promise.resolve();
      done.push('remove netns');
    });
    undo.push('dir', () => done.push('remove dir'));
    await undo.unwind();
    assert.deepEqual(done, ['remove dir', 'remove netns', 'unmount']);
    await undo.unwind();
    assert.equal(done.length, 3, 'a second unwind has nothing left to run');
  });

  it('clear keeps the side effects: nothing runs after it', async () => {
    const done: string[] = [];
    const undo = new UndoStack();
    undo.push('a', () => done.push('a'));
    undo.clear();
    undo.push('b', () => done.push('b'));
    await undo.unwind();
    assert.deepEqual(done, ['b']);
  });

  const failures: [string, () => unknown, string][] = [
    ['throws', () => {
      throw new Error('EBUSY: still mounted');
    }, 'EBUSY: still mounted'],
    ['rejects', () => Promise.reject(new Error('link gone')), 'link gone'],
    ['throws what is not an Error', () => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- what a careless step may throw
      throw 'odd';
    }, 'odd'],
  ];
  for (const [what, failing, message] of failures) {
    it(`a step that ${what} is logged by name and the others still run`, async () => {
      const { log, errors } = fakeLogger();
      const done: string[] = [];
      const undo = new UndoStack();
      undo.push('first', () => done.push('first'));
      undo.push('broken', failing);
      undo.push('last', () => done.push('last'));
      await undo.unwind(log);
      assert.deepEqual(done, ['last', 'first']);
      assert.deepEqual(errors, [{ message: 'undo step failed', meta: { step: 'broken', error: message } }]);
    });
  }

  it('without a logger a failing step is passed over quietly', async () => {
    const done: string[] = [];
    const undo = new UndoStack();
    undo.push('first', () => done.push('first'));
    undo.push('broken', () => Promise.reject(new Error('x')));
    await undo.unwind();
    assert.deepEqual(done, ['first']);
  });
});
