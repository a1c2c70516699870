import assert from 'node:assert/strict';
import { CriLogParser, criLogLines, MAX_MESSAGE_BYTES, type LogMessage } from '../../src/container/cri-log-lines.js';

const shown = (ms: LogMessage[]): { stream: string; line: string; time: string }[] => ms.map((m) => ({ stream: m.stream, line: m.line.toString('latin1'), time: m.time }));

describe('container/cri-log-lines: the messages of a CRI log', () => {
  it('reads a CRI log: partial lines joined, each to its stream, with its time', () => {
    const log = [
      '2026-01-01T00:00:00.1Z stdout P hel',
      '2026-01-01T00:00:00.2Z stderr F oops',
      '2026-01-01T00:00:00.3Z stdout F lo',
      '2026-01-01T00:00:00.4Z stdout F ',
      // A terminal's line ends in \r: kept, not dropped.
      '2026-01-01T00:00:00.5Z stdout F 45 123\r',
      'not a log line',
      '2026-01-01T00:00:00.6Z stdin F no such stream',
      '2026-01-01T00:00:00.7Z stdout X no such tag',
      // Tags after the first, as kubelet allows them, are passed over.
      '2026-01-01T00:00:00.8Z stdout F:x tagged',
      '',
    ].join('\n');
    assert.deepEqual(shown(criLogLines(log)), [
      { stream: 'stderr', line: 'oops', time: '2026-01-01T00:00:00.2Z' },
      // A joined line has the time of its first part.
      { stream: 'stdout', line: 'hello', time: '2026-01-01T00:00:00.1Z' },
      { stream: 'stdout', line: '', time: '2026-01-01T00:00:00.4Z' },
      { stream: 'stdout', line: '45 123\r', time: '2026-01-01T00:00:00.5Z' },
      { stream: 'stdout', line: 'tagged', time: '2026-01-01T00:00:00.8Z' },
    ]);
    assert.equal(criLogLines('2026-01-01T00:00:00.000000001+01:00 stdout F x\n')[0]!.timeNanos, BigInt(Date.parse('2025-12-31T23:00:00Z')) * 1_000_000n + 1n);
    assert.equal(criLogLines('then stdout F x\n')[0]!.timeNanos, 0n, 'no time: 0');
  });

  it('keeps bytes that are not UTF-8, and goes on across pieces cut anywhere', () => {
    const bytes = Buffer.concat([Buffer.from('2026-01-01T00:00:00Z stdout P \xff\xfe', 'latin1'), Buffer.from('\n2026-01-01T00:00:01Z stdout F \x80end\n2026-01-01T00:00:02Z stderr F last\n', 'latin1')]);
    const whole = criLogLines(bytes);
    assert.deepEqual(whole[0]!.line, Buffer.from('\xff\xfe\x80end', 'latin1'));
    for (let cut = 1; cut < bytes.length; cut += 7) {
      const p = new CriLogParser();
      const ms = [...p.push(bytes.subarray(0, cut)), ...p.push(bytes.subarray(cut))];
      assert.deepEqual(shown(ms), shown(whole), `cut at ${cut}`);
    }
    const p = new CriLogParser();
    assert.deepEqual(p.push(Buffer.from('2026-01-01T00:00:00Z stdout F no newline yet')), [], 'a line waits for its newline');
    assert.deepEqual(shown(p.push(Buffer.from('!\n'))), [{ stream: 'stdout', line: 'no newline yet!', time: '2026-01-01T00:00:00Z' }]);
  });

  it('sends a message that never ends in pieces, and drops a raw line too long to be a log line', () => {
    const p = new CriLogParser();
    const part = 'x'.repeat(MAX_MESSAGE_BYTES / 4);
    const out: LogMessage[] = [];
    for (let i = 0; i < 5; i++) out.push(...p.push(Buffer.from(`2026-01-01T00:00:0${i}Z stdout P ${part}\n`)));
    assert.deepEqual(out.map((m) => [m.line.length, m.time]), [[MAX_MESSAGE_BYTES, '2026-01-01T00:00:00Z']]);
    const rest = p.push(Buffer.from('2026-01-01T00:00:09Z stdout F !\n'));
    assert.deepEqual(rest.map((m) => m.line.length), [part.length + 1], 'the rest, once it ends');

    const q = new CriLogParser();
    const huge = Buffer.alloc(MAX_MESSAGE_BYTES + 1024, 'y');
    assert.deepEqual(q.push(Buffer.concat([Buffer.from('2026-01-01T00:00:00Z stdout F '), huge])), []);
    assert.deepEqual(shown(q.push(Buffer.from('tail of it\n2026-01-01T00:00:01Z stdout F after\n'))), [{ stream: 'stdout', line: 'after', time: '2026-01-01T00:00:01Z' }]);
  });
});
