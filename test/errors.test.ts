import assert from 'node:assert/strict';
import { codeForErrno, codeForToolMessage, CoracleError, errorCodeOf, withContext, type ErrorCode } from '../src/errors.js';

/** A system error as Node raises one: an Error with the errno's name as its code. */
const sysError = (code: string, message = `${code}: it failed`): NodeJS.ErrnoException => Object.assign(new Error(message), { code });

describe('errors: what code a failure carries', () => {
  const errnos: [string | number | undefined, ErrorCode | undefined][] = [
    ['ENOSPC', 'RESOURCE_EXHAUSTED'],
    ['EDQUOT', 'RESOURCE_EXHAUSTED'],
    ['EMFILE', 'RESOURCE_EXHAUSTED'],
    ['ENFILE', 'RESOURCE_EXHAUSTED'],
    ['ENOMEM', 'RESOURCE_EXHAUSTED'],
    [28, 'RESOURCE_EXHAUSTED'],
    [122, 'RESOURCE_EXHAUSTED'],
    [24, 'RESOURCE_EXHAUSTED'],
    [23, 'RESOURCE_EXHAUSTED'],
    [12, 'RESOURCE_EXHAUSTED'],
    ['ENAMETOOLONG', 'INVALID_ARGUMENT'],
    [36, 'INVALID_ARGUMENT'],
    ['EACCES', undefined],
    [13, undefined],
    [undefined, undefined],
  ];
  for (const [errno, want] of errnos) {
    it(`errno ${String(errno)} → ${want ?? 'nothing more than INTERNAL'}`, () => assert.equal(codeForErrno(errno), want));
  }

  const tools: [string, ErrorCode | undefined][] = [
    ['write /run/x: no space left on device', 'RESOURCE_EXHAUSTED'],
    ['mkdir: Disk quota exceeded', 'RESOURCE_EXHAUSTED'],
    ['open: Too many open files', 'RESOURCE_EXHAUSTED'],
    ['container does not exist', 'NOT_FOUND'],
    ['container 3f2a does not exist', 'NOT_FOUND'],
    ['container not found', 'NOT_FOUND'],
    ['permission denied', undefined],
  ];
  for (const [message, want] of tools) {
    it(`a tool saying "${message}" → ${want ?? 'nothing'}`, () => assert.equal(codeForToolMessage(message), want));
  }

  const thrown: [string, unknown, ErrorCode][] = [
    ['a CoracleError keeps its own', new CoracleError('NOT_FOUND', 'pod x: not found'), 'NOT_FOUND'],
    ['a system error that ran out of space', sysError('ENOSPC'), 'RESOURCE_EXHAUSTED'],
    ['another system error', sysError('EACCES'), 'INTERNAL'],
    ['a plain Error (a bug)', new TypeError('x is undefined'), 'INTERNAL'],
    ['a thrown string', 'oops', 'INTERNAL'],
  ];
  for (const [what, err, want] of thrown) {
    it(`${what}: ${want}`, () => assert.equal(errorCodeOf(err), want));
  }

  it('withContext names the object before the message, keeps the code and the cause', () => {
    const cause = sysError('ENOSPC', 'ENOSPC: no space left on device, write');
    const err = withContext('container 3f2a: start', cause);
    assert.ok(err instanceof CoracleError);
    assert.equal(err.code, 'RESOURCE_EXHAUSTED');
    assert.equal(err.message, 'container 3f2a: start: ENOSPC: no space left on device, write');
    assert.equal(err.cause, cause);
    const outer = withContext('pod p', err);
    assert.deepEqual([outer.code, outer.message, outer.cause], ['RESOURCE_EXHAUSTED', 'pod p: container 3f2a: start: ENOSPC: no space left on device, write', err]);
  });
});
