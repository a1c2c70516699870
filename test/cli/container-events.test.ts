import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { eventLine, eventTime, parseEventFilter } from '../../src/cli/container-events.js';
import { cliSuite } from '../helpers/cli.js';
import { CORACLE_BIN } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';

/** `coracle events …` running, its output so far in `out`; ended by the test. */
function eventsProcess(socket: string, args: string[]): { child: ChildProcess; out: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [CORACLE_BIN, '-H', `unix://${socket}`, 'events', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, exit };
}

describe('cli: events', function () {
  this.timeout(180_000);
  const t = cliSuite();
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  /** Runs (and removes) a probe container named `name` until `events` shows it: from then on its stream is live. */
  const live = async (e: { out: () => string }, name: string): Promise<void> => {
    await until('the events stream to be live', async () => {
      assert.equal((await t.cli('run', '--name', name, t.image, 'true')).code, 0);
      assert.equal((await t.cli('rm', name)).code, 0);
      return e.out().includes(`name=${name})`);
    });
  };
  const probeLines = (out: string, name: string): string => out.split('\n').filter((l) => !l.includes(`name=${name})`)).join('\n');

  it("prints create, start, die (with exitCode) and destroy in docker's line format; filters; Ctrl+C ends it with 0", async () => {
    const { d, cli, image } = t;
    const all = eventsProcess(d.socket, []);
    const filtered = eventsProcess(d.socket, ['--filter', 'container=ev2', '--filter', 'container=fprobe', '--filter', 'event=die', '--filter', 'event=destroy', '--since', '10m']);
    children.push(all.child, filtered.child);
    await live(all, 'probe');
    await live(filtered, 'fprobe');
    assert.equal((await cli('run', '--name', 'ev1', image, 'sh', '-c', 'exit 3')).code, 3);
    assert.equal((await cli('rm', 'ev1')).code, 0);
    assert.equal((await cli('run', '--name', 'ev2', image, 'true')).code, 0);
    assert.equal((await cli('rm', 'ev2')).code, 0);
    const line = (action: string, name: string, extra = ''): string => `\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z container ${action} [0-9a-f]{64} \\(${extra}image=${image.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, name=${name}\\)\n`;
    const ev1 = new RegExp(line('create', 'ev1') + line('start', 'ev1') + line('die', 'ev1', 'exitCode=3, ') + line('destroy', 'ev1'));
    await until('ev2 destroyed, in the unfiltered stream', () => /destroy [0-9a-f]{64} \(image=.*, name=ev2\)\n/.test(all.out()));
    assert.match(all.out(), ev1);
    await until('ev2 destroyed, in the filtered stream', () => /destroy [0-9a-f]{64} \(image=.*, name=ev2\)\n/.test(filtered.out()));
    assert.match(probeLines(filtered.out(), 'fprobe'), new RegExp(`^${line('die', 'ev2', 'exitCode=0, ')}${line('destroy', 'ev2')}$`));
    all.child.kill('SIGINT');
    filtered.child.kill('SIGINT');
    assert.equal(await all.exit, 0);
    assert.equal(await filtered.exit, 0);
  });

  it('--until in the past ends at once with 0; bad --since, --until, --filter values are usage errors (exit 2)', async () => {
    const { cli } = t;
    assert.deepEqual(await cli('events', '--until', '1'), { code: 0, stdout: '', stderr: '' });
    for (const [flag, value] of [['--since', 'abc'], ['--until', '5x'], ['--filter', 'foo=bar'], ['--filter', 'event=explode'], ['--filter', 'container']]) {
      const r = await cli('events', flag!, value!);
      assert.equal(r.code, 2, `${flag} ${value}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`option '.*${flag}.*' argument '${value}' is invalid`));
    }
  });

  it('reads filters, and prints the time and attributes as docker does', () => {
    assert.deepEqual(parseEventFilter('container=web'), { key: 'container', value: 'web' });
    assert.throws(() => parseEventFilter('event=boom'), /Expected an event/);
    assert.equal(eventTime(1764660600_123456789n), '2025-12-02T07:30:00.123456789Z');
    assert.equal(
      eventLine({ id: 'a'.repeat(64), action: 'die', at: 1764660600_000000001n, image: 'busybox', name: 'web', exitCode: 137 }),
      `${eventTime(1764660600_000000001n)} container die ${'a'.repeat(64)} (exitCode=137, image=busybox, name=web)\n`,
    );
  });
});
