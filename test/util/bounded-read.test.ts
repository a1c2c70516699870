import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoracleError, isErrno } from '../../src/errors.js';
import { readRegularFile, readStreamCapped } from '../../src/util/bounded-read.js';
import { refusedWith } from '../helpers/coracle-error.js';
import { tempDir } from '../helpers/daemon.js';

describe('util/bounded-read', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir('coracle-bounded-read-');
  });

  it('reads a regular file up to its cap, through a symlink (paths given by root)', async () => {
    await writeFile(join(dir, 'f'), 'x'.repeat(100));
    await symlink(join(dir, 'f'), join(dir, 'link'));
    assert.equal((await readRegularFile(join(dir, 'f'), { max: 100, what: 'test file' })).length, 100);
    assert.equal((await readRegularFile(join(dir, 'link'), { max: 100, what: 'test file' })).toString(), 'x'.repeat(100));
    assert.equal((await readRegularFile(join(dir, 'f'), { max: 200_000, what: 'test file' })).length, 100);
    await writeFile(join(dir, 'empty'), '');
    assert.equal((await readRegularFile(join(dir, 'empty'), { max: 10, what: 'test file' })).length, 0);
  });

  it('refuses a file over the cap, a FIFO without blocking, a device, a directory; names the file', async () => {
    const big = join(dir, 'big');
    await writeFile(big, Buffer.alloc(200_001));
    await refusedWith(readRegularFile(big, { max: 200_000, what: 'test file' }), 'INVALID_ARGUMENT', new RegExp(`^test file ${big}: 200001 bytes, more than the 200000 it may have$`));
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // No writer ever opens it: a blocking open or read would never return.
    await refusedWith(readRegularFile(fifo, { max: 10, what: 'remote.cert' }), 'INVALID_ARGUMENT', new RegExp(`^remote.cert ${fifo}: not a regular file$`));
    await symlink('/dev/zero', join(dir, 'zero'));
    await refusedWith(readRegularFile(join(dir, 'zero'), { max: 10, what: 'x' }), 'INVALID_ARGUMENT', /zero: not a regular file$/);
    await refusedWith(readRegularFile(dir, { max: 10, what: 'x', code: 'FAILED_PRECONDITION' }), 'FAILED_PRECONDITION', /not a regular file$/);
  });

  it('keeps the system error as the cause', async () => {
    const missing = join(dir, 'missing');
    const err = await refusedWith(readRegularFile(missing, { max: 10, what: 'config file' }), 'INVALID_ARGUMENT', new RegExp(`^config file ${missing}: cannot open: .*ENOENT`));
    assert.ok(isErrno(err.cause, 'ENOENT'));
  });

  it('reads a stream up to its cap, and stops reading past it', async () => {
    let pulled = 0;
    let finished = false;
    async function* source(n: number): AsyncGenerator<Buffer> {
      try {
        for (let i = 0; i < n; i++) {
          pulled++;
          yield Buffer.alloc(10, i);
        }
      } finally {
        finished = true;
      }
    }
    assert.equal((await readStreamCapped(source(5), 50, () => new Error('too large'))).length, 50);
    assert.ok(finished, 'a source read to its end is finished');
    pulled = 0;
    finished = false;
    await assert.rejects(readStreamCapped(source(1000), 50, () => new CoracleError('INVALID_ARGUMENT', 'blob x: too large')), /blob x: too large/);
    assert.equal(pulled, 6, 'the chunk that crossed the cap was the last one pulled');
    assert.ok(finished, 'the source was returned');
  });
});
