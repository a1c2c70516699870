import assert from 'node:assert/strict';
import { containerStatus, humanDuration, humanSize, quotedCommand, shortId, table } from '../../src/cli/format.js';
import { checkName, generateName, resolveContainer } from '../../src/cli/names.js';
import { bar, PullView } from '../../src/cli/pull-view.js';
import { PassThrough } from 'node:stream';

describe('cli: docker-style formatting and names', () => {
  const S = 1000;
  const M = 60 * S;
  const H = 60 * M;
  for (const [ms, want] of [
    [500, 'Less than a second'],
    [S, '1 second'],
    [42 * S, '42 seconds'],
    [M + 5 * S, 'About a minute'],
    [4 * M, '4 minutes'],
    [H, 'About an hour'],
    [5 * H, '5 hours'],
    [3 * 24 * H, '3 days'],
    [20 * 24 * H, '2 weeks'],
    [90 * 24 * H, '3 months'],
    [800 * 24 * H, '2 years'],
  ] as const) {
    it(`humanDuration(${ms}) is "${want}"`, () => assert.equal(humanDuration(ms), want));
  }

  it('sizes, statuses, commands, ids and tables as docker prints them', () => {
    assert.deepEqual([0, 999, 1000, 1_234_567, 4_260_000_000].map(humanSize), ['0B', '999B', '1kB', '1.23MB', '4.26GB']);
    const now = 1_000_000_000;
    assert.equal(containerStatus({ state: 'exited', exitCode: 137, startedAt: 0, finishedAt: now - 4 * M }, now), 'Exited (137) 4 minutes ago');
    assert.equal(containerStatus({ state: 'running', exitCode: 0, startedAt: now - 3 * S, finishedAt: 0 }, now), 'Up 3 seconds');
    assert.equal(containerStatus({ state: 'created', exitCode: 0, startedAt: 0, finishedAt: 0 }, now), 'Created');
    assert.equal(quotedCommand(['sh', '-c', 'echo hello; sleep 100']), '"sh -c echo hello; s…"');
    assert.equal(quotedCommand(['true']), '"true"');
    assert.equal(shortId('sha256:607ee106bc66a4f1d99d6fcf'), '607ee106bc66');
    assert.equal(table(['A', 'LONGER'], [['xx', 'y'], ['z', '']]), 'A    LONGER\nxx   y\nz\n');
  });

  it('resolves a container by id, name or unique id prefix; refuses an ambiguous prefix', () => {
    const all = [
      { id: 'abc111', name: 'web' },
      { id: 'abc222', name: 'db' },
      { id: 'def333', name: 'abc' },
    ];
    assert.equal(resolveContainer(all, 'abc222').name, 'db');
    assert.equal(resolveContainer(all, 'web').id, 'abc111');
    assert.equal(resolveContainer(all, 'abc').id, 'def333', 'a name before a prefix');
    assert.equal(resolveContainer(all, 'de').name, 'abc');
    assert.throws(() => resolveContainer(all, 'ab'), { code: 'FAILED_PRECONDITION', message: 'multiple containers found with provided prefix: ab' });
    assert.throws(() => resolveContainer(all, 'zz'), { code: 'NOT_FOUND', message: 'no such container: zz' });
    assert.throws(() => checkName('bad name'), { code: 'INVALID_ARGUMENT' });
    checkName('good_name-1.2');
    const taken = new Set<string>();
    for (let i = 0; i < 50; i++) taken.add(generateName(taken));
    assert.equal(taken.size, 50);
    for (const n of taken) assert.match(n, /^[a-z]+_[a-z]+\d*$/);
  });

  it('pull progress: bars redrawn in place on a terminal, a line per change otherwise', () => {
    assert.equal(bar(0, 1000, 10), '[>         ] 0B/1kB');
    assert.equal(bar(500, 1000, 10), '[=====>    ] 500B/1kB');
    assert.equal(bar(1000, 1000, 10), '[==========] 1kB/1kB');
    const text = (tty: boolean): string => {
      const out = new PassThrough();
      const v = new PullView(out, tty);
      const a = 'sha256:aaaaaaaaaaaa1111';
      const b = 'sha256:bbbbbbbbbbbb2222';
      v.step({ layer: a, status: 'waiting', current: 0, total: 2000 });
      v.step({ layer: b, status: 'exists', current: 0, total: 10 });
      v.step({ layer: a, status: 'downloading', current: 1000, total: 2000 });
      v.step({ layer: a, status: 'downloading', current: 2000, total: 2000 });
      v.step({ layer: a, status: 'done', current: 2000, total: 2000 });
      return String(out.read());
    };
    assert.equal(text(false), 'aaaaaaaaaaaa: Waiting\nbbbbbbbbbbbb: Already exists\naaaaaaaaaaaa: Downloading\naaaaaaaaaaaa: Pull complete\n');
    const drawn = text(true).split('\x1b[2A');
    assert.equal(drawn.length, 4, 'redrawn in place after the first draw');
    assert.match(drawn[1]!, /aaaaaaaaaaaa: Downloading \[=+>\s*\] 1kB\/2kB/);
    // The terminal's erase-line sequence (ESC [2K) is what is tested.
    // eslint-disable-next-line no-control-regex
    assert.match(drawn[3]!, /aaaaaaaaaaaa: Pull complete\n\x1b\[2Kbbbbbbbbbbbb: Already exists\n$/);
  });
});
