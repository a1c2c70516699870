import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MODULE = fileURLToPath(new URL('../../src/util/v8-collections.js', import.meta.url));

/**
 * Runs each of the module's collections in a child node with `flags`, and returns the kinds
 * of V8's GC events that each one caused (perf_hooks' 'gc' entries: major, minor...), or
 * 'none' where the module gave no collection.
 */
function kindsOf(flags: string[]): Record<string, string> {
  const script = `
    import { PerformanceObserver, constants } from 'node:perf_hooks';
    import { fullCollection, youngCollection } from ${JSON.stringify(MODULE)};
    const names = { [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
      [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' };
    const seen = [];
    const observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) seen.push(names[e.detail.kind] ?? String(e.detail.kind)); });
    observer.observe({ entryTypes: ['gc'] });
    // The observer's entries come in a task of their own: one collection per turn.
    const kinds = {};
    for (const [name, make] of [['full', fullCollection], ['young', youngCollection]]) {
      const collect = make();
      seen.length = 0;
      collect?.();
      await new Promise((resolve) => setTimeout(resolve, 50));
      kinds[name] = collect ? [...new Set(seen)].join(',') : 'none';
    }
    observer.disconnect();
    console.log(JSON.stringify(kinds));`;
  const out = execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(out) as Record<string, string>;
}

describe('util/v8-collections', () => {
  // Node 20's gc({ type: 'major' }) was a scavenge: what the memory reducer ran for a full
  // collection. V8's own events say which kind each call is.
  it("with --expose-gc (the daemon's flags): fullCollection is a mark-compact, youngCollection a scavenge", () => {
    assert.deepEqual(kindsOf(['--expose-gc', '--max-semi-space-size=1', '--heap-growing-percent=15']), { full: 'major', young: 'minor' });
  });

  it('without --expose-gc: neither (a test, the CLI)', () => {
    assert.deepEqual(kindsOf([]), { full: 'none', young: 'none' });
  });
});
