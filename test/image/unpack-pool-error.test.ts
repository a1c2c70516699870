import assert from 'node:assert/strict';
import { unpackError } from '../../src/image/unpack-pool.js';

describe('image/unpack-pool: a worker\'s failure keeps its code across the thread', () => {
  const cases: { name: string; error: Parameters<typeof unpackError>[0]; code: string }[] = [
    { name: 'a layer refused for what it holds (CoracleError)', error: { message: 'layer x: a path out of the root', code: 'INVALID_ARGUMENT', coracle: true }, code: 'INVALID_ARGUMENT' },
    { name: 'a disk that is full', error: { message: 'ENOSPC: no space left on device', code: 'ENOSPC' }, code: 'RESOURCE_EXHAUSTED' },
    { name: 'too many open files', error: { message: 'EMFILE: too many open files', code: 'EMFILE' }, code: 'RESOURCE_EXHAUSTED' },
    { name: 'a file name in the layer the kernel cannot take', error: { message: 'ENAMETOOLONG', code: 'ENAMETOOLONG' }, code: 'FAILED_PRECONDITION' },
    { name: 'another system error (the node\'s fault)', error: { message: 'EIO: i/o error', code: 'EIO' }, code: 'INTERNAL' },
    { name: 'a stream that is not a layer (zlib, tar)', error: { message: 'incorrect header check', code: 'Z_DATA_ERROR' }, code: 'FAILED_PRECONDITION' },
    { name: 'no code at all', error: { message: 'Unexpected end of data' }, code: 'FAILED_PRECONDITION' },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.code}`, () => {
      const err = unpackError(c.error);
      assert.equal(err.code, c.code);
      assert.equal(err.message, c.error.message);
      assert.equal((err.cause as NodeJS.ErrnoException).code, c.error.code);
    });
  }
});
