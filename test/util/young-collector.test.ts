import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { YoungCollector } from '../../src/util/young-collector.js';

const MiB = 1 << 20;

describe('util/young-collector', () => {
  for (const [every, adds, want] of [
    [4 * MiB, [MiB, MiB, MiB], 0],
    [4 * MiB, [MiB, MiB, MiB, MiB], 1],
    [4 * MiB, [3 * MiB, 3 * MiB, 3 * MiB], 1], // 9 MiB: once at 6, then 3 counted anew
    [4 * MiB, [10 * MiB], 1], // one big read is one collection, not two
    [4 * MiB, Array<number>(16).fill(MiB), 4],
    [MiB, [64 << 10], 0],
  ] as const) {
    it(`every ${every / MiB} MiB, adds of ${adds.map((a) => a / MiB).join(', ')} MiB: ${want} collections`, () => {
      let collections = 0;
      const young = new YoungCollector(every, () => collections++);
      for (const a of adds) young.add(a);
      assert.equal(collections, want);
    });
  }

  // The daemon's young generation (util/reexec): a loop that makes a dead 1 MiB Buffer per
  // turn, with and without a collector; the most Buffer memory alive at once is what glibc
  // must hold.
  it("keeps a Buffer-per-turn loop's dead Buffers to a few MiB under the daemon's V8 flags", () => {
    const module = fileURLToPath(new URL('../../src/util/young-collector.js', import.meta.url));
    const script = `
      import { YoungCollector } from ${JSON.stringify(module)};
      const most = (young) => {
        let top = 0;
        for (let i = 0; i < 256; i++) {
          Buffer.allocUnsafe(1 << 20).fill(i);
          young?.add(1 << 20);
          top = Math.max(top, process.memoryUsage().arrayBuffers);
        }
        globalThis.gc();
        return Math.round(top / (1 << 20));
      };
      console.log(JSON.stringify({ without: most(undefined), with: most(new YoungCollector(4 << 20)) }));`;
    // V8 frees the bytes of the Buffers a collection found dead on a thread of its own, and
    // counts them freed once that thread is done: on a busy machine that came after the loop's
    // next reading (35 MiB with and without a collector under the whole suite). Swept in line,
    // the reading is what the collections did, busy or not.
    const flags = ['--max-semi-space-size=1', '--expose-gc', '--no-concurrent-array-buffer-sweeping'];
    const out = execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    const mib = JSON.parse(out) as { without: number; with: number };
    assert.ok(mib.with <= 8, `with a collector every 4 MiB: at most 8 MiB of Buffers at once, got ${mib.with} (${out.trim()})`);
    assert.ok(mib.without >= 3 * mib.with, `without: V8 alone lets dead Buffers pile up (the reason for the collector), got ${mib.without} (${out.trim()})`);
  });
});
