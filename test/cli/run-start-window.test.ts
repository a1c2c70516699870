import assert from 'node:assert/strict';
import { startWindow } from '../../src/cli/run-start-window.js';
import { onCleanup } from '../helpers/cleanup.js';
import { until } from '../helpers/until.js';

/**
 * The window's handling, with real signals sent to this process (a real `coracle run` sent a
 * Ctrl+C between its make and its start cannot be timed into that window).
 */
describe('cli: run start window', () => {
  const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  let listeners: number[];
  beforeEach(() => {
    // This process must outlive a signal the window under test failed to take.
    const keep = (): void => undefined;
    for (const s of SIGNALS) process.on(s, keep);
    onCleanup('let the signals go', () => {
      for (const s of SIGNALS) process.off(s, keep);
    });
    listeners = SIGNALS.map((s) => process.listenerCount(s));
  });

  /** The signal, once every handler has had it (this one is called after the window's). */
  const send = async (signal: NodeJS.Signals): Promise<void> => {
    const got = new Promise((r) => process.once(signal, r));
    process.kill(process.pid, signal);
    await got;
  };

  const watched = (): { discarded: string[]; exits: number[]; window: ReturnType<typeof startWindow<string>>; release: () => void } => {
    const discarded: string[] = [];
    const exits: number[] = [];
    let release = (): void => undefined;
    const held = new Promise<void>((r) => (release = r));
    const window = startWindow<string>(
      async (pod) => {
        discarded.push(pod);
        await held;
      },
      (code) => exits.push(code),
    );
    onCleanup('close the window', () => window.close());
    return { discarded, exits, window, release };
  };

  for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal} after the make: what was made is discarded, then the run ends with ${status}; the step under way never settles`, async () => {
      const w = watched();
      w.window.open();
      w.window.made('pod1');
      let settled = false;
      let finish = (): void => undefined;
      // The start under way when the signal comes: it ends after it.
      void w.window.guard(new Promise<void>((r) => (finish = r))).finally(() => (settled = true));
      await send(signal);
      await until('the discard', () => w.discarded.length === 1);
      assert.deepEqual(w.exits, [], 'not before the discard is done');
      w.release();
      await until('the exit', () => w.exits.length === 1);
      assert.deepEqual([w.discarded, w.exits], [['pod1'], [status]]);
      finish();
      await new Promise((r) => setImmediate(r));
      assert.equal(settled, false, 'the start is not gone on with');
    });
  }

  it('a signal during the make: the pod is discarded once made; a second signal ends the run at once', async () => {
    const w = watched();
    w.window.open();
    await send('SIGTERM');
    assert.deepEqual([w.discarded, w.exits], [[], []], 'nothing to discard yet');
    w.window.made('pod2');
    assert.deepEqual(w.discarded, ['pod2']);
    await send('SIGINT');
    await until('the exit', () => w.exits.length === 1);
    assert.deepEqual(w.exits, [130], 'the second, without waiting for the discard');
    w.release();
    await until('the discard\'s exit', () => w.exits.length === 2);
  });

  it('a signal during a make that failed (it removed what it made): the run ends with its status at close', async () => {
    const w = watched();
    w.window.open();
    await send('SIGINT');
    w.window.close();
    assert.deepEqual([w.discarded, w.exits], [[], [130]]);
  });

  it('no signal: steps settle as they do; close lets the signals go (none before open)', async () => {
    const w = watched();
    assert.deepEqual(SIGNALS.map((s) => process.listenerCount(s)), listeners, 'none before open');
    w.window.open();
    assert.deepEqual(SIGNALS.map((s) => process.listenerCount(s)), listeners.map((n) => n + 1));
    w.window.made('pod3');
    assert.equal(await w.window.guard(Promise.resolve(4)), 4);
    await assert.rejects(w.window.guard(Promise.reject(new Error('start failed'))), /start failed/);
    w.window.close();
    assert.deepEqual(SIGNALS.map((s) => process.listenerCount(s)), listeners);
    await send('SIGINT');
    assert.deepEqual([w.discarded, w.exits], [[], []]);
  });
});
