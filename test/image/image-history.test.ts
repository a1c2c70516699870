import assert from 'node:assert/strict';
import { matchLayers } from '../../src/image/image-history.js';

type Entry = { created?: string; created_by?: string; comment?: string; empty_layer?: boolean };

describe('image/history matching steps with layers', () => {
  const step = (createdBy: string, emptyLayer = false): { created: string; createdBy: string; comment: string; emptyLayer: boolean } => ({ created: '', createdBy, comment: '', emptyLayer });
  // [what, history, layers, want: [createdBy, emptyLayer, layer]]
  const cases: [string, Entry[], string[], [string, boolean, string | undefined][]][] = [
    ['no history, no layers', [], [], []],
    ['no history: a bare step per layer', [], ['L1', 'L2'], [['', false, 'L1'], ['', false, 'L2']]],
    ['one step per layer', [{ created_by: 'a' }, { created_by: 'b' }], ['L1', 'L2'], [['a', false, 'L1'], ['b', false, 'L2']]],
    [
      'empty-layer steps take no layer',
      [{ created_by: 'a' }, { created_by: 'env', empty_layer: true }, { created_by: 'b' }, { created_by: 'cmd', empty_layer: true }],
      ['L1', 'L2'],
      [['a', false, 'L1'], ['env', true, undefined], ['b', false, 'L2'], ['cmd', true, undefined]],
    ],
    ['more layers than steps: the rest get bare steps', [{ created_by: 'a' }], ['L1', 'L2', 'L3'], [['a', false, 'L1'], ['', false, 'L2'], ['', false, 'L3']]],
    ['more steps than layers: the extra steps take none', [{ created_by: 'a' }, { created_by: 'b' }], ['L1'], [['a', false, 'L1'], ['b', false, undefined]]],
  ];
  for (const [what, history, layers, want] of cases) {
    it(what, () => {
      const got = matchLayers(history, layers);
      assert.deepEqual(got, want.map(([createdBy, empty, layer]) => ({ step: step(createdBy, empty), layer })));
    });
  }

  it('keeps created and comment, and says "" where the config does not', () => {
    const [withBoth, without] = matchLayers([{ created: '2024-01-02T03:04:05Z', created_by: 'x', comment: 'c' }, {}], ['L1', 'L2']);
    assert.deepEqual(withBoth!.step, { created: '2024-01-02T03:04:05Z', createdBy: 'x', comment: 'c', emptyLayer: false });
    assert.deepEqual(without!.step, { created: '', createdBy: '', comment: '', emptyLayer: false });
  });
});
