import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { checked, enumArg, intArg, intOrWordArg, repeatableArg } from '../../src/cli/flag-parsers.js';
import { parsePort } from '../../src/cli/run-options.js';
import { CORACLE_BIN, tempDir } from '../helpers/daemon.js';

/** The CLI, on its own: nothing answers on `socket`, so any command that got past parsing would exit 1. */
function coracle(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CORACLE_BIN, ...args], { timeout: 30_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('cli: flag values, checked as they are parsed', () => {
  const refused = (message: RegExp) => (err: unknown): boolean => err instanceof InvalidArgumentError && message.test(err.message);

  it('intArg: whole numbers in range only', () => {
    const seconds = intArg({ min: 0 });
    assert.deepEqual(['0', '10', '007', '86400'].map(seconds), [0, 10, 7, 86400]);
    for (const bad of ['abc', '', '1.5', '1e3', '0x10', '10s', ' 1', '-1', '99999999999999999']) assert.throws(() => seconds(bad), refused(/^Expected a whole number \(0 or more\)\.$/), bad);
    assert.throws(() => intArg({ min: 1, max: 3 })('4'), refused(/from 1 to 3/));
    assert.equal(intArg()('-5'), -5);
  });

  it('intOrWordArg: a number or one of the words (logs --tail all)', () => {
    const tail = intOrWordArg(['all'], { min: 0 });
    assert.deepEqual(['all', '0', '25'].map(tail), ['all', 0, 25]);
    for (const bad of ['abc', 'ALL', '-2', '']) assert.throws(() => tail(bad), refused(/^Expected a whole number \(0 or more\), or "all"\.$/), bad);
  });

  it('enumArg: one of the values, as given', () => {
    const level = enumArg(['error', 'warn', 'info', 'debug']);
    assert.equal(level('warn'), 'warn');
    assert.throws(() => level('loud'), refused(/^Expected one of: error, warn, info, debug\.$/));
  });

  it("repeatableArg and checked: the value's own parser, its error commander's", () => {
    const ports = repeatableArg(parsePort);
    assert.deepEqual(ports('2:3', ports('1:2')).map((p) => p.hostPort), [1, 2]);
    assert.throws(() => ports('99999:1'), refused(/^invalid port mapping "99999:1"/));
    assert.throws(() => checked(JSON.parse)('{'), refused(/JSON/));
  });

  it('the CLI: a bad value names the flag and the value and exits 2; a daemon that fails exits 1; help exits 0', async () => {
    const socket = join(await tempDir(), 'nothing.sock');
    const H = ['-H', `unix://${socket}`];
    const usage: [string[], RegExp][] = [
      [[...H, 'stop', '-t', 'abc', 'x'], /option '-t, --time <seconds>' argument 'abc' is invalid/],
      [[...H, 'stop', '-t', '-1', 'x'], /option '-t, --time <seconds>' argument '-1' is invalid/],
      [[...H, 'logs', '--tail', 'abc', 'x'], /option '-n, --tail <n>' argument 'abc' is invalid.*"all"/],
      [[...H, 'run', '-p', '99999:1', 'img'], /option '-p, --publish <\[ip:\]host:container\[\/proto\]>' argument '99999:1' is invalid/],
      [[...H, 'run', '-v', 'rel:/c', 'img'], /option '-v, --volume <host:container\[:ro\]>' argument 'rel:\/c' is invalid/],
      [[...H, 'run', '--name', 'a b', 'img'], /option '--name <name>' argument 'a b' is invalid/],
      [['-H', 'bogus', 'ps'], /option '-H, --host <address>' argument 'bogus' is invalid/],
      [['serve', '--log-level', 'loud'], /option '--log-level <level>' argument 'loud' is invalid\. Expected one of: error, warn, info, debug/],
      [['serve', '--log-format', 'xml'], /option '--log-format <format>' argument 'xml' is invalid/],
      [[...H, 'ps', '--bogus'], /unknown option '--bogus'/],
      [[...H, 'stop'], /missing required argument 'container'/],
      [['-H', 'tcp://127.0.0.1:1', 'ps'], /mutual TLS only: give --tlscacert/],
    ];
    for (const [args, says] of usage) {
      const r = await coracle(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, says);
    }
    const env = await coracle(['ps'], { CORACLE_HOST: 'bogus' });
    assert.deepEqual([env.code, env.stderr], [2, 'coracle: CORACLE_HOST: bogus: expected unix:///path/to.sock or tcp://host:port\n']);

    const down = await coracle([...H, 'stop', '-t', '5', 'x']);
    assert.deepEqual([down.code, down.stderr], [1, `coracle: cannot connect to the Coracle daemon at unix://${socket}: is it running?\n`]);
    assert.equal((await coracle(['stop', '--help'])).code, 0);
    assert.equal((await coracle(['--version'])).code, 0);
  });
});
