import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { goDuration, timeArg, utcNanos } from '../../src/cli/time-flag.js';

describe('cli: logs --since/--until values, as docker reads them', () => {
  const now = Date.parse('2026-12-02T08:00:00Z');
  const at = (v: string): number => Number(timeArg(() => now)(v) / 1_000_000n);
  const ns = (v: string): bigint => timeArg(() => now)(v);

  it('reads Go durations before now, RFC 3339 times and Unix seconds', () => {
    assert.equal(at('10m'), now - 600_000);
    assert.equal(at('1h30m'), now - 5_400_000);
    assert.equal(at('1.5h'), now - 5_400_000);
    assert.equal(at('250ms'), now - 250);
    assert.equal(at('0s'), now);
    assert.equal(at('2026-12-02T07:30:12Z'), Date.parse('2026-12-02T07:30:12Z'));
    assert.equal(at('2026-12-02T07:30:12.5+01:00'), Date.parse('2026-12-02T06:30:12.5Z'));
    assert.equal(at('2026-12-02T07:30'), Date.parse('2026-12-02T07:30:00Z'), 'no zone: UTC');
    assert.equal(at('2026-12-02'), Date.parse('2026-12-02T00:00:00Z'));
    assert.equal(at('1764660612'), 1764660612000);
    assert.equal(at('1764660612.25'), 1764660612250);
    assert.equal(ns('2026-12-02T07:30:12.123456789Z') - ns('2026-12-02T07:30:12.123456788Z'), 1n, 'nanoseconds kept');
    assert.equal(ns('1764660612.000000001') % 1_000_000_000n, 1n);
    assert.equal(goDuration('10'), undefined, 'a bare number is Unix seconds, not a duration');
  });

  it('refuses anything else as a usage error', () => {
    for (const bad of ['', 'yesterday', '2026-02-30', '2026-00-10T00:00Z', '10x', '-5m', '2026-13-45', '2026-12-02 07:30', 'm10', `${'1h'.repeat(40)}`]) {
      assert.throws(() => ns(bad), InvalidArgumentError, bad);
    }
  });

  it("prints a CRI log line's time in UTC with its nanoseconds", () => {
    assert.deepEqual(utcNanos('2026-12-02T09:30:12.123456789+01:00'), { ns: BigInt(Date.parse('2026-12-02T08:30:12Z')) * 1_000_000n + 123456789n, text: '2026-12-02T08:30:12.123456789Z' });
    assert.equal(utcNanos('2026-12-02T08:30:12Z').text, '2026-12-02T08:30:12.000000000Z');
  });
});
