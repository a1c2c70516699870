import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFile, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LOG_BATCH, logMessages, type LogMessage, type LogsOptions } from '../../src/container/container-logs.js';
import { tempDir } from '../helpers/daemon.js';
import type { CoracleError } from '../../src/errors.js';

const at = (s: number): string => `2026-01-01T00:00:${String(s).padStart(2, '0')}.000000001Z`;
const ns = (s: number): bigint => BigInt(Date.parse('2026-01-01T00:00:00Z') + s * 1000) * 1_000_000n + 1n;
const line = (s: number, text: string, stream = 'stdout', tag = 'F'): string => `${at(s)} ${stream} ${tag} ${text}\n`;
const texts = (batches: LogMessage[][]): string[] => batches.flat().map((m) => `${m.stream}:${m.line.toString()}`);

async function all(path: string, o: Partial<LogsOptions>): Promise<LogMessage[][]> {
  const out: LogMessage[][] = [];
  for await (const b of logMessages(path, { follow: false, ...o }, new AbortController().signal, async () => false)) out.push(b);
  return out;
}

/** The fds of this process open on `path`. */
async function fdsOn(path: string): Promise<string[]> {
  const fds = await readdir('/proc/self/fd');
  const links = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
  return links.filter((l) => l.startsWith(path));
}

describe('container/container-logs: a CRI log read, windowed and followed', () => {
  it('applies tail, since and until to whole messages (partial lines joined, by their first time)', async () => {
    const path = join(await tempDir(), 'c.log');
    await writeFile(path, [line(1, 'one'), line(2, 'tw', 'stdout', 'P'), line(3, 'err', 'stderr'), line(4, 'o'), line(5, 'five'), line(6, 'six', 'stderr')].join(''));
    assert.deepEqual(texts(await all(path, {})), ['stdout:one', 'stderr:err', 'stdout:two', 'stdout:five', 'stderr:six'], 'each as it ends');
    assert.deepEqual(texts(await all(path, { tail: 2 })), ['stdout:five', 'stderr:six']);
    assert.deepEqual(texts(await all(path, { tail: 0 })), []);
    assert.deepEqual(texts(await all(path, { tail: 99 })).length, 5);
    // "two" began at 2: it is in a window from 2, not in one from 3.
    assert.deepEqual(texts(await all(path, { since: ns(2), until: ns(3) })), ['stderr:err', 'stdout:two']);
    assert.deepEqual(texts(await all(path, { since: ns(3) })), ['stderr:err', 'stdout:five', 'stderr:six']);
    assert.deepEqual(texts(await all(path, { until: ns(3), tail: 1 })), ['stdout:two']);
    assert.deepEqual(texts(await all(join(path, '..', 'none.log'), {})), [], 'no file yet: nothing');
  });

  it('cuts batches at their caps', async () => {
    const path = join(await tempDir(), 'c.log');
    const n = LOG_BATCH.messages * 2 + 500;
    await writeFile(path, Array.from({ length: n }, (_, i) => line(1, `line ${i}`)).join(''));
    const batches = await all(path, {});
    assert.equal(batches.flat().length, n);
    assert.ok(batches.every((b) => b.length <= LOG_BATCH.messages && b.reduce((s, m) => s + m.line.length, 0) <= LOG_BATCH.bytes));
    assert.deepEqual(texts(batches).slice(-1), [`stdout:line ${n - 1}`]);
    const big = 'x'.repeat(300 << 10);
    await writeFile(path, [1, 2, 3, 4, 5].map((s) => line(s, big)).join(''));
    const bigBatches = await all(path, {});
    assert.ok(bigBatches.length >= 2 && bigBatches.every((b) => b.reduce((s, m) => s + m.line.length, 0) <= LOG_BATCH.bytes), 'at most 1 MiB a batch');
  });

  it('follows appends and a rotation, ends after a last read once the writer stops, and lets go of the file when cancelled', async () => {
    const path = join(await tempDir(), 'c.log');
    await writeFile(path, line(1, 'before'));
    let running = true;
    const logs = logMessages(path, { follow: true, tail: 1 }, new AbortController().signal, async () => running);
    const next = async (): Promise<string[]> => texts([(await logs.next()).value as LogMessage[]]);
    assert.deepEqual(await next(), ['stdout:before']);
    await appendFile(path, line(2, 'appended'));
    assert.deepEqual(await next(), ['stdout:appended']);
    // kubelet's rotation: the file renamed, the writer still on it for a while, then a new file.
    await rename(path, `${path}.1`);
    await appendFile(`${path}.1`, line(3, 'late in the old'));
    await writeFile(path, line(4, 'in the new'));
    assert.deepEqual([...(await next()), ...(await next())], ['stdout:late in the old', 'stdout:in the new']);
    await appendFile(path, line(5, 'last'));
    running = false;
    assert.deepEqual(await next(), ['stdout:last']);
    assert.deepEqual(await logs.next(), { done: true, value: undefined });
    assert.deepEqual(await fdsOn(path), []);

    running = true;
    const cancel = new AbortController();
    const followed = logMessages(path, { follow: true }, cancel.signal, async () => running);
    assert.deepEqual(texts([(await followed.next()).value as LogMessage[]]), ['stdout:in the new', 'stdout:last']);
    const waiting = followed.next();
    assert.equal((await fdsOn(path)).length, 1, 'open while it follows');
    cancel.abort();
    assert.deepEqual(await waiting, { done: true, value: undefined }, 'a cancel ends the wait');
    assert.deepEqual(await fdsOn(path), [], 'and closes the file');
  });

  it('with waitStart: an empty batch once the file is open, then what is written, also after the file is removed (run --rm)', async () => {
    const dir = await tempDir();
    const path = join(dir, 'c.log');
    // As CreateContainer leaves it: empty until the container starts.
    await writeFile(path, '');
    let running = true;
    const logs = logMessages(path, { follow: true, waitStart: true }, new AbortController().signal, async () => running);
    assert.deepEqual((await logs.next()).value, [], 'the file is open');
    await appendFile(path, line(1, 'out') + line(1, 'err', 'stderr'));
    // The daemon removes the container and its log dir as it exits, before the next look.
    await rm(dir, { recursive: true });
    running = false;
    assert.deepEqual(texts([(await logs.next()).value as LogMessage[]]), ['stdout:out', 'stderr:err']);
    assert.deepEqual(await logs.next(), { done: true, value: undefined });
  });
  it('opens a regular file only: a FIFO or a symlink at the log path is refused at once, never waited on or followed', async () => {
    const dir = await tempDir();
    const fifo = join(dir, 'fifo.log');
    execFileSync('mkfifo', [fifo]);
    const secret = join(dir, 'secret');
    await writeFile(secret, line(1, 'a host file'));
    const link = join(dir, 'link.log');
    await symlink(secret, link);
    for (const [path, why] of [
      [fifo, /not a regular file/],
      [link, /is a symlink: not followed/],
    ] as const) {
      for (const o of [{}, { follow: true, waitStart: true }]) {
        await assert.rejects(all(path, o), (err: CoracleError) => err.code === 'FAILED_PRECONDITION' && why.test(err.message), `${path} ${JSON.stringify(o)}`);
      }
    }
    assert.deepEqual(await fdsOn(dir), [], 'nothing left open');
  });

  it('wait_start promises an open file: with none there, it fails rather than say it is open', async () => {
    const path = join(await tempDir(), 'none.log');
    await assert.rejects(all(path, { follow: true, waitStart: true }), (err: CoracleError) => err.code === 'FAILED_PRECONDITION' && /is not there/.test(err.message));
  });
});
