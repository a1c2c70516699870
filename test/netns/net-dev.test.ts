import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { interfaceUsage } from '../../src/netns/net-dev.js';

describe('netns/net-dev: interface counters of a network namespace through a process in it', () => {
  it('every interface but loopback, with the receive and transmit bytes and errors of /proc/PID/net/dev', async () => {
    const before = await readFile('/proc/self/net/dev', 'utf8');
    const usage = await interfaceUsage(process.pid);
    // Counters only grow: each is at least what the earlier read gave, field by field.
    const rows = before
      .split('\n')
      .slice(2)
      .filter((l) => l.includes(':'))
      .map((l) => {
        const [name, rest] = l.split(':') as [string, string];
        const f = rest.trim().split(/\s+/).map(BigInt);
        return { name: name.trim(), rx: f[0]!, rxErr: f[2]!, tx: f[8]!, txErr: f[10]! };
      })
      .filter((r) => r.name !== 'lo');
    // Interfaces of other tests may come and go between the reads: those in both are compared.
    assert.ok(!usage.some((u) => u.name === 'lo'), 'no loopback');
    const common = rows.filter((r) => usage.some((u) => u.name === r.name));
    assert.ok(common.length > 0 && common.length >= rows.length - 2, `${rows.length} interfaces before, ${usage.length} after`);
    for (const r of common) {
      const u = usage.find((x) => x.name === r.name)!;
      assert.ok(u.rxBytes >= r.rx && u.txBytes >= r.tx && u.rxErrors >= r.rxErr && u.txErrors >= r.txErr, `${r.name}: ${JSON.stringify(u, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
    }
  });
});
