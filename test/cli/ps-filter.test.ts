import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import type { CliContainer } from '../../src/cli/cli-client.js';
import { matchesPsFilters, psFilterArg, type PsFilters } from '../../src/cli/ps-filter.js';

describe('cli: ps --filter, as docker matches', () => {
  const base: CliContainer = { id: 'aaaa1111', podId: 'p', name: 'web-1', cli: true, image: 'reg/busybox:v1', imageId: 'sha256:img1', command: [], args: [], ports: [], state: 'running', createdAt: 0, startedAt: 0, finishedAt: 0, exitCode: 0, reason: '', logPath: '', labels: { tier: 'front', solo: '' }, autoRemove: false };
  const filters = (...values: string[]): PsFilters => values.reduce<PsFilters>((acc, v) => psFilterArg(v, acc), {});
  const match = (c: Partial<CliContainer>, ...values: string[]): boolean => matchesPsFilters({ ...base, ...c }, filters(...values), new Set(['sha256:img2']));

  it('AND across keys, OR within a key', () => {
    assert.ok(match({}, 'name=web', 'status=running'));
    assert.ok(!match({}, 'name=web', 'status=exited'));
    assert.ok(match({}, 'status=exited', 'status=running'));
    assert.ok(match({}, 'name=^db', 'name=-1$'), 'name is a regular expression, as docker');
    assert.ok(match({}, 'id=aaaa'));
    assert.ok(!match({}, 'id=bbbb'));
    assert.ok(match({}, 'label=tier'));
    assert.ok(match({}, 'label=tier=front'));
    assert.ok(!match({}, 'label=tier=back'));
    assert.ok(match({}, 'label=solo='));
    assert.ok(match({ state: 'exited', exitCode: 3 }, 'exited=3'));
    assert.ok(!match({ state: 'exited', exitCode: 3 }, 'exited=0'));
    assert.ok(!match({}, 'exited=0'), 'a running container has not exited');
    assert.ok(match({}, 'ancestor=reg/busybox:v1'), 'by the reference it was run with');
    assert.ok(match({ imageId: 'sha256:img2' }, 'ancestor=other'), 'by the id the name resolves to');
    assert.ok(!match({}, 'ancestor=other'));
  });

  it('refuses a bad filter as a usage error', () => {
    for (const bad of ['name', 'colour=red', 'status=sleeping', 'exited=x', 'exited=1000', 'name=(', 'label=', 'ancestor=']) {
      assert.throws(() => psFilterArg(bad), InvalidArgumentError, bad);
    }
  });
});
