import assert from 'node:assert/strict';
import { CoracleError } from '../../src/errors.js';
import { refuseNul } from '../../src/sandbox/no-nul.js';

describe('sandbox/no-nul: refuseNul', () => {
  const refused: [string, unknown, string][] = [
    ['a top-level string', 'a\0b', 'pod x: a value "a\\u0000b" holds a NUL byte'],
    ['a field', { hostname: 'h\0' }, 'pod x: hostname "h\\u0000" holds a NUL byte'],
    ['a nested field', { metadata: { name: '\0' } }, 'pod x: metadata.name "\\u0000" holds a NUL byte'],
    ['an array item', { command: ['sh', '-c\0'] }, 'pod x: command[1] "-c\\u0000" holds a NUL byte'],
    ['a key', { envs: { 'A\0': 'b' } }, 'pod x: a key of envs holds a NUL byte'],
    ['a top-level key', { 'k\0': 1 }, 'pod x: a key of the request holds a NUL byte'],
    ['a long value, quoted in part', { v: `${'x'.repeat(200)}\0` }, `pod x: v "${'x'.repeat(100)}" holds a NUL byte`],
  ];
  for (const [what, value, message] of refused) {
    it(`refuses a NUL in ${what}, naming where`, () => {
      assert.throws(
        () => refuseNul('pod x', value),
        (err: unknown) => err instanceof CoracleError && err.code === 'INVALID_ARGUMENT' && err.message === message,
      );
    });
  }

  const passed: [string, unknown, ReadonlySet<string>?][] = [
    ['labels and annotations (stored as JSON only)', { labels: { 'a\0': 'b\0' }, annotations: { c: '\0' }, name: 'ok' }],
    ['the keys it is told to skip', { extra: ['\0'] }, new Set(['extra'])],
    ['numbers, booleans, null and undefined', { n: 0, b: false, z: null, u: undefined, list: [1, true] }],
  ];
  for (const [what, value, skip] of passed) {
    it(`passes ${what}`, () => assert.doesNotThrow(() => refuseNul('pod x', value, skip)));
  }

  it('looks into labels when not told to skip them', () => {
    assert.throws(() => refuseNul('pod x', { labels: { a: '\0' } }, new Set()), /pod x: labels\.a "\\u0000" holds a NUL byte/);
  });
});
