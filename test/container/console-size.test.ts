import assert from 'node:assert/strict';
import { CONSOLE_SIZE_ANNOTATION, consoleSizeOf } from '../../src/container/console-size.js';

describe('container/console-size: the size a terminal starts with, from an annotation', () => {
  const cases: [string, Record<string, string>, { height: number; width: number } | undefined | 'refused'][] = [
    ['none given (kubelet)', {}, undefined],
    ['rows and columns', { [CONSOLE_SIZE_ANNOTATION]: '45x123' }, { height: 45, width: 123 }],
    ['the largest', { [CONSOLE_SIZE_ANNOTATION]: '65535x65535' }, { height: 65535, width: 65535 }],
    ['zero rows', { [CONSOLE_SIZE_ANNOTATION]: '0x80' }, 'refused'],
    ['past 65535', { [CONSOLE_SIZE_ANNOTATION]: '65536x80' }, 'refused'],
    ['not numbers', { [CONSOLE_SIZE_ANNOTATION]: 'tallxwide' }, 'refused'],
    ['one number', { [CONSOLE_SIZE_ANNOTATION]: '80' }, 'refused'],
    ['a sign', { [CONSOLE_SIZE_ANNOTATION]: '-1x80' }, 'refused'],
    ['empty', { [CONSOLE_SIZE_ANNOTATION]: '' }, 'refused'],
  ];
  for (const [what, annotations, want] of cases) {
    it(`${what}: ${want === 'refused' ? 'INVALID_ARGUMENT' : JSON.stringify(want)}`, () => {
      if (want === 'refused') assert.throws(() => consoleSizeOf(annotations), { code: 'INVALID_ARGUMENT' });
      else assert.deepEqual(consoleSizeOf(annotations), want);
    });
  }
});
