import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statsRow } from '../../src/cli/container-stats.js';
import { bytesSize } from '../../src/cli/format.js';
import { cliSuite } from '../helpers/cli.js';
import { CORACLE_BIN } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';

const HEADER = ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS'];

describe('cli: stats', function () {
  this.timeout(180_000);
  const t = cliSuite();

  const rows = (out: string): string[][] => out.trimEnd().split('\n').map((l) => l.split(/ {3,}/));

  it('--no-stream prints one table of the running containers (or those named), CPU % from two samples', async () => {
    const { cli, image } = t;
    assert.equal((await cli('run', '-d', '--name', 'busy', image, 'sh', '-c', 'while :; do :; done')).code, 0);
    assert.equal((await cli('run', '-d', '--name', 'idle', image, 'sleep', '300')).code, 0);
    assert.equal((await cli('run', '--name', 'gone', image, 'true')).code, 0);
    const r = await cli('stats', '--no-stream');
    assert.equal(r.code, 0, r.stderr);
    const [header, ...body] = rows(r.stdout);
    assert.deepEqual(header, HEADER);
    assert.deepEqual(body.map((b) => b[1]).sort(), ['busy', 'idle'], 'running ones only');
    for (const b of body) {
      assert.match(b[0]!, /^[0-9a-f]{12}$/);
      assert.match(b[2]!, /^\d+\.\d\d%$/);
      assert.match(b[3]!, /^\d+(\.\d+)?(B|KiB|MiB|GiB) \/ \d+(\.\d+)?(B|KiB|MiB|GiB|TiB)$/);
      assert.match(b[4]!, /^\d+\.\d\d%$/);
      assert.match(b[5]!, /^\d+(\.\d+)?(B|kB|MB|GB) \/ \d+(\.\d+)?(B|kB|MB|GB)$/);
      assert.equal(b[6], '--');
      assert.match(b[7]!, /^[1-9]\d*$/);
    }
    const busy = body.find((b) => b[1] === 'busy')!;
    assert.ok(parseFloat(busy[2]!) > 0, `a busy loop uses CPU: ${busy[2]}`);
    assert.notEqual(busy[3]!.split(' / ')[0], '0B');
    assert.equal((await cli('kill', 'busy')).code, 0);

    const one = await cli('stats', '--no-stream', 'idle');
    assert.deepEqual(rows(one.stdout).map((x) => x[1]), ['NAME', 'idle'], one.stderr);
    const all = await cli('stats', '--no-stream', '-a');
    assert.deepEqual(rows(all.stdout).slice(1).map((x) => x[1]).sort(), ['busy', 'gone', 'idle']);
    assert.deepEqual(rows(all.stdout).find((x) => x[1] === 'gone')!.slice(2), ['--', '-- / --', '--', '--', '--', '--']);
  });

  it('live: redraws every second until Ctrl+C, which exits 0; an unknown container is exit 1, a bad flag exit 2', async () => {
    const { d, cli, image } = t;
    assert.equal((await cli('run', '-d', '--name', 'idle', image, 'sleep', '300')).code, 0);
    const child = spawn(process.execPath, [CORACLE_BIN, '-H', `unix://${d.socket}`, 'stats', 'idle'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until('two tables drawn', () => out.split('\x1b[2J\x1b[H').length >= 3);
      child.kill('SIGINT');
      assert.equal(await exit, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    for (const table of out.split('\x1b[2J\x1b[H').slice(1)) assert.deepEqual(rows(table).map((x) => x[1]), ['NAME', 'idle']);

    assert.deepEqual(await cli('stats', '--no-stream', 'nosuch'), { code: 1, stdout: '', stderr: 'coracle: no such container: nosuch\n' });
    assert.equal((await cli('stats', '--no-strem')).code, 2);
  });

  it('prints sizes and percentages as docker does', () => {
    assert.deepEqual([bytesSize(0), bytesSize(1023), bytesSize(1536), bytesSize(8 * 1024 ** 3), bytesSize(1_500_000)], ['0B', '1023B', '1.5KiB', '8GiB', '1.431MiB']);
    const at = 1_000_000_000n;
    const sample = { at, cpuNanos: 0n, memory: 512 * 1024 ** 2, memoryLimit: 1024 ** 3, rx: 1500, tx: 0, pids: 2 };
    const later = { ...sample, at: at + 1_000_000_000n, cpuNanos: 250_000_000n };
    assert.deepEqual(statsRow({ id: 'a'.repeat(64), name: 'web' }, sample, later), ['aaaaaaaaaaaa', 'web', '25.00%', '512MiB / 1GiB', '50.00%', '1.5kB / 0B', '--', '2']);
    assert.equal(statsRow({ id: 'a'.repeat(64), name: 'web' }, undefined, later)[2], '0.00%');
  });
});
