import assert from 'node:assert/strict';
import { CoracleError, type ErrorCode } from '../../src/errors.js';
import { combined } from '../../src/image/image-pull.js';

describe('image/pull error over all endpoints', () => {
  const e = (code: ErrorCode | undefined, message: string): { endpoint: string; err: unknown } => ({
    endpoint: 'https://r.example',
    err: code ? new CoracleError(code, message) : new Error(message),
  });
  // [what, errors, want code, want message]
  const cases: [string, { endpoint: string; err: unknown }[], ErrorCode, string][] = [
    ['one endpoint: its code', [e('NOT_FOUND', 'no such tag')], 'NOT_FOUND', 'image "busybox": pull failed: no such tag'],
    ['the same code everywhere: that code', [e('UNAUTHENTICATED', 'a'), e('UNAUTHENTICATED', 'b')], 'UNAUTHENTICATED', 'image "busybox": pull failed: a; b'],
    ['different codes: UNAVAILABLE', [e('NOT_FOUND', 'a'), e('UNAUTHENTICATED', 'b')], 'UNAVAILABLE', 'image "busybox": pull failed: a; b'],
    ['a plain Error counts as INTERNAL', [e(undefined, 'boom')], 'INTERNAL', 'image "busybox": pull failed: boom'],
    ['INTERNAL and another code: UNAVAILABLE', [e(undefined, 'boom'), e('NOT_FOUND', 'a')], 'UNAVAILABLE', 'image "busybox": pull failed: boom; a'],
  ];
  for (const [what, errors, code, message] of cases) {
    it(what, () => {
      const got = combined('busybox', errors);
      assert.equal(got.code, code);
      assert.equal(got.message, message);
      // The endpoints' own errors are kept: one as the cause, several together in order.
      if (errors.length === 1) assert.equal(got.cause, errors[0]!.err);
      else assert.deepEqual((got.cause as AggregateError).errors, errors.map((x) => x.err));
    });
  }
});
