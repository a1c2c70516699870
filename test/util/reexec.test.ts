import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { childScript } from '../helpers/child-script.js';
import { missingFlags } from '../../src/util/reexec.js';

const REEXEC = fileURLToPath(new URL('../../src/util/reexec.js', import.meta.url));

/** Runs a script that re-executes itself with `flags`, then reports what it runs with. */
async function runReexec(
  flags: string[],
  env: NodeJS.ProcessEnv = {},
  addEnv: Record<string, string> = {},
): Promise<{ pid: number; stdout: string; stderr: string; code: number | null }> {
  const script = await childScript('coracle-reexec-', [
    `import { reexecWith } from ${JSON.stringify(REEXEC)};`,
    `reexecWith(${JSON.stringify(flags)}, undefined, ${JSON.stringify(addEnv)});`,
    // What the process runs with after the exec: its flags, its pid, its arguments, the variables asked for.
    `const env = Object.fromEntries(${JSON.stringify(Object.keys(addEnv))}.map((k) => [k, process.env[k]]));`,
    `process.stdout.write(JSON.stringify({ execArgv: process.execArgv, pid: process.pid, args: process.argv.slice(2), env }) + '\\n');`,
    `process.stderr.write('stderr still here\\n');`,
  ]);
  const child = spawn(process.execPath, [script, 'one', 'two words'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { pid: child.pid!, stdout, stderr, code };
}

describe('util/reexec', () => {
  it('names the flags not given on the command line nor in NODE_OPTIONS, whatever their value there', () => {
    assert.deepEqual(missingFlags(['--max-semi-space-size=1'], [], undefined), ['--max-semi-space-size=1']);
    assert.deepEqual(missingFlags(['--max-semi-space-size=1'], ['--max-semi-space-size=1'], undefined), []);
    assert.deepEqual(missingFlags(['--max-semi-space-size=1'], ['--max-semi-space-size=8'], undefined), []);
    assert.deepEqual(missingFlags(['--max-semi-space-size=1'], [], '--enable-source-maps  --max-semi-space-size=4'), []);
    assert.deepEqual(missingFlags(['--max-semi-space-size=1', '--a'], ['--enable-source-maps'], '--b'), ['--max-semi-space-size=1', '--a']);
  });

  it('re-executes once with the flags: the same pid, the arguments as they were, stdout and stderr kept', async () => {
    const r = await runReexec(['--max-semi-space-size=1']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `one process wrote, once: ${r.stdout}`);
    const seen = JSON.parse(lines[0]!) as { execArgv: string[]; pid: number; args: string[] };
    assert.deepEqual(seen.execArgv, ['--max-semi-space-size=1']);
    assert.equal(seen.pid, r.pid);
    assert.deepEqual(seen.args, ['one', 'two words']);
    assert.equal(r.stderr, 'stderr still here\n');
  });

  it('adds the variables it is given that the environment lacks, and keeps the ones the caller set', async () => {
    const cases = [
      { set: {}, want: { CORACLE_TEST_A: '1', CORACLE_TEST_B: 'x' } },
      { set: { CORACLE_TEST_A: '4' }, want: { CORACLE_TEST_A: '4', CORACLE_TEST_B: 'x' } },
    ];
    for (const { set, want } of cases) {
      const r = await runReexec(['--max-semi-space-size=1'], set, { CORACLE_TEST_A: '1', CORACLE_TEST_B: 'x' });
      assert.equal(r.code, 0, r.stderr);
      const seen = JSON.parse(r.stdout) as { execArgv: string[]; env: Record<string, string> };
      assert.deepEqual(seen.execArgv, ['--max-semi-space-size=1']);
      assert.deepEqual(seen.env, want, JSON.stringify(set));
    }
  });

  it('does not exec when NODE_OPTIONS sets the flag already', async () => {
    const r = await runReexec(['--max-semi-space-size=1'], { NODE_OPTIONS: '--max-semi-space-size=2' });
    assert.equal(r.code, 0, r.stderr);
    const seen = JSON.parse(r.stdout) as { execArgv: string[]; pid: number };
    assert.deepEqual(seen.execArgv, [], 'the command line is as it was started');
    assert.equal(seen.pid, r.pid);
  });
});
