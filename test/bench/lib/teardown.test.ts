import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childScript } from '../../helpers/child-script.js';

const HOST = fileURLToPath(new URL('../../../bench/lib/host.js', import.meta.url));
const TEARDOWN = fileURLToPath(new URL('../../../bench/lib/teardown.js', import.meta.url));

/**
 * A bench in a process of its own: it writes a line every 5 ms for up to 10 s, stopping
 * where checkInterrupted says; its one cleanup step writes `cleaned` next to the script.
 * `end` is what happens to it once its first line is read. Returns its exit code, what the
 * cleanup left, and its stderr (when it is still read).
 */
async function runBench(end: 'close stdout' | 'SIGHUP' | 'SIGTERM'): Promise<{ code: number | null; marker: string; stderr: string }> {
  const script = await childScript('coracle-teardown-', [
    `import { writeFileSync } from 'node:fs';`,
    `import { Cleanups } from ${JSON.stringify(HOST)};`,
    `import { checkInterrupted, runWithTeardown } from ${JSON.stringify(TEARDOWN)};`,
    `const cleanups = new Cleanups();`,
    `cleanups.add('marker', async () => writeFileSync(new URL('marker', import.meta.url), 'cleaned'));`,
    `await runWithTeardown(cleanups, async () => {`,
    `  for (let i = 0; i < 2000; i++) {`,
    `    console.log('line ' + i + ' ' + 'x'.repeat(200));`,
    `    await new Promise((r) => setTimeout(r, 5));`,
    `    checkInterrupted();`,
    `  }`,
    `});`,
  ]);
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
  await new Promise((resolve) => child.stdout.once('data', resolve));
  if (end === 'close stdout') child.stdout.destroy();
  else child.kill(end);
  const code = await closed;
  const marker = await readFile(join(dirname(script), 'marker'), 'utf8').catch(() => '');
  return { code, marker, stderr };
}

describe('bench/lib/teardown', () => {
  const cases = [
    { end: 'close stdout', why: 'a reader of its output that goes away (EPIPE)', reason: 'interrupted (SIGPIPE)' },
    { end: 'SIGHUP', why: 'a hang-up (a closed terminal)', reason: 'SIGHUP: stopping' },
    { end: 'SIGTERM', why: 'SIGTERM', reason: 'SIGTERM: stopping' },
  ] as const;
  for (const { end, why, reason } of cases) {
    it(`stops the bench and still tears it down after ${why}`, async () => {
      const r = await runBench(end);
      assert.equal(r.marker, 'cleaned', `the cleanup ran; stderr: ${r.stderr}`);
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, new RegExp(reason.replace(/[()]/g, '\\$&')));
      assert.doesNotMatch(r.stderr, /Unhandled 'error' event/);
    });
  }
});
