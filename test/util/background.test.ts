import assert from 'node:assert/strict';
import { BackgroundTasks } from '../../src/util/background.js';
import { Writable } from 'node:stream';
import winston from 'winston';

describe('util: background tasks', () => {
  const logged: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logged.push(chunk.toString());
      cb();
    },
  });
  const log = winston.createLogger({ level: 'warn', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });

  it('runs tasks under one key one after the other, in order; settled() waits for the last', async () => {
    const bg = new BackgroundTasks(log);
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    void bg.run('k', 'first', async () => {
      await gate;
      order.push('first');
    });
    void bg.run('k', 'second', async () => {
      order.push('second');
    });
    void bg.run('other', 'other', async () => {
      order.push('other');
    });
    await bg.settled('other');
    assert.deepEqual(order, ['other'], 'another key does not wait');
    release();
    await bg.settled('k');
    assert.deepEqual(order, ['other', 'first', 'second']);
  });

  it('a failure is logged with its key and does not stop the next task', async () => {
    const bg = new BackgroundTasks(log);
    logged.length = 0;
    let ran = false;
    void bg.run('f', 'failing step', () => Promise.reject(new Error('on cue')));
    await bg.run('f', 'next', async () => {
      ran = true;
    });
    assert.ok(ran);
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /failing step failed/);
    assert.match(logged[0]!, /on cue/);
  });

  it('drain waits for what runs, and no longer than it is given', async () => {
    const bg = new BackgroundTasks(log);
    let done = false;
    void bg.run('a', 'short', async () => {
      await new Promise((r) => setTimeout(r, 20));
      done = true;
    });
    await bg.drain(10_000);
    assert.ok(done);
    void bg.run('b', 'endless', () => new Promise<void>(() => undefined));
    await bg.drain(20); // returns: its bound, not the task's end
    assert.equal(await Promise.race([bg.settled('b').then(() => 'settled'), new Promise((r) => setImmediate(() => r('pending')))]), 'pending');
  });
});
