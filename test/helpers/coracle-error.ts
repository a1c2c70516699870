import assert from 'node:assert/strict';
import { CoracleError, type ErrorCode } from '../../src/errors.js';

/** The CoracleError `p` rejects with, once its code and message are checked. */
export async function refusedWith(p: Promise<unknown>, code: ErrorCode, message: RegExp): Promise<CoracleError> {
  const err = await p.then(() => assert.fail('it was not refused'), (e: unknown) => e);
  assert.ok(err instanceof CoracleError, String(err));
  assert.equal(err.code, code, err.message);
  assert.match(err.message, message);
  return err;
}
