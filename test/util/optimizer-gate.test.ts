import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { childScript } from '../helpers/child-script.js';
import { optimizeFromNowOn } from '../../src/util/optimizer-gate.js';

const GATE = fileURLToPath(new URL('../../src/util/optimizer-gate.js', import.meta.url));

/** V8's %GetOptimizationStatus bit for "optimized" (src/runtime/runtime.h, OptimizationStatus::kOptimized). */
const OPTIMIZED = 1 << 4;

describe('util/optimizer-gate', () => {
  it('asks V8 for its optimizing compiler by its flag', () => {
    const set: string[] = [];
    optimizeFromNowOn((flags) => set.push(flags));
    assert.deepEqual(set, ['--turbofan']);
  });

  it('a node started with --no-turbofan optimizes a hot function once the gate is open, and not before', async () => {
    // A function made hot until V8 optimizes it (or 50 rounds pass), before and after the gate.
    const script = await childScript('coracle-optimizer-gate-', [
      `import { optimizeFromNowOn } from ${JSON.stringify(GATE)};`,
      'const data = Array.from({ length: 1000 }, (_, i) => i);',
      'function sum(a) { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * 2; return s; }',
      `const heat = () => { for (let r = 0; r < 50 && !(%GetOptimizationStatus(sum) & ${OPTIMIZED}); r++) for (let i = 0; i < 500; i++) sum(data); return %GetOptimizationStatus(sum); };`,
      'const before = heat();',
      'optimizeFromNowOn();',
      'const after = heat();',
      'process.stdout.write(JSON.stringify({ before, after }));',
    ]);
    const { stdout } = await promisify(execFile)(process.execPath, ['--no-turbofan', '--allow-natives-syntax', script], { timeout: 60_000 });
    const { before, after } = JSON.parse(stdout) as { before: number; after: number };
    assert.equal(before & OPTIMIZED, 0, `not optimized with the gate closed: status ${before.toString(2)}`);
    assert.equal(after & OPTIMIZED, OPTIMIZED, `optimized once it is open: status ${after.toString(2)}`);
  });
});
