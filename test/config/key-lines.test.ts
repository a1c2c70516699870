import assert from 'node:assert/strict';
import { formatKeyPath, lineOfKey, splitDottedKey } from '../../src/config/key-lines.js';

describe('config/key-lines', () => {
  describe('splitDottedKey', () => {
    const cases: [string, string[] | undefined][] = [
      ['a', ['a']],
      ['a.b', ['a', 'b']],
      [' a . b ', ['a', 'b']],
      ['registry.hosts."docker.io"', ['registry', 'hosts', 'docker.io']],
      ["hosts.'k8s.gcr.io'.mirrors", ['hosts', 'k8s.gcr.io', 'mirrors']],
      ['"a\\"b"', ['a"b']],
      ['a..b', undefined],
      ['"open', undefined],
    ];
    for (const [input, want] of cases) {
      it(`${JSON.stringify(input)} → ${JSON.stringify(want)}`, () => {
        assert.deepEqual(splitDottedKey(input), want);
      });
    }
  });

  describe('formatKeyPath', () => {
    const cases: [(string | number)[], string][] = [
      [['root'], 'root'],
      [['registry', 'hosts', 'docker.io', 'mirrors', 0], 'registry.hosts."docker.io".mirrors[0]'],
      [['runtime', 'handlers', 'runc', 'path'], 'runtime.handlers.runc.path'],
    ];
    for (const [path, want] of cases) {
      it(want, () => assert.equal(formatKeyPath(path), want));
    }
  });

  describe('lineOfKey', () => {
    const text = [
      'root = "/x"', // 1
      '# a comment with key = value', // 2
      '[cni]', // 3
      'conf_dir = "/etc"', // 4
      'bin_dirs = ["/a", # the "=" in here is a value', // 5
      '  "/b"]', // 6
      '', // 7
      '[registry.hosts."docker.io"] # mirror', // 8
      'mirrors = ["http://x"]', // 9
      'a.b = 1', // 10
      '[[arr]]', // 11
      'k = 1', // 12
      '[[arr]]', // 13
      'k = 2', // 14
    ].join('\n');
    const cases: [(string | number)[], number | undefined][] = [
      [['root'], 1],
      [['cni'], 3],
      [['cni', 'conf_dir'], 4],
      [['cni', 'bin_dirs', 1], 5],
      [['cni', 'missing'], 3],
      [['registry', 'hosts', 'docker.io'], 8],
      [['registry', 'hosts', 'docker.io', 'mirrors', 0], 9],
      [['registry', 'hosts', 'docker.io', 'a', 'b'], 10],
      [['arr', 1, 'k'], 14],
      [['nowhere'], undefined],
    ];
    for (const [path, want] of cases) {
      it(`${formatKeyPath(path)} → line ${want}`, () => assert.equal(lineOfKey(text, path), want));
    }
  });
});
