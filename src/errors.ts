/**
 * The error every service throws. It carries the gRPC status it maps to from the place it is
 * raised, so that the one wrapper in src/cri/ never has to guess; services stay free of gRPC.
 */
export type ErrorCode =
  | 'CANCELLED'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'DATA_LOSS'
  | 'UNAUTHENTICATED';

export class CoracleError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CoracleError';
    this.code = code;
  }
}

export const invalidArgument = (message: string): CoracleError =>
  new CoracleError('INVALID_ARGUMENT', message);
export const notFound = (message: string): CoracleError => new CoracleError('NOT_FOUND', message);
export const failedPrecondition = (message: string): CoracleError =>
  new CoracleError('FAILED_PRECONDITION', message);
export const unimplemented = (message: string): CoracleError =>
  new CoracleError('UNIMPLEMENTED', message);

/** Node's system errors carry a string code ('ENOENT'); only those are recognised here. */
export function isErrno(err: unknown, code?: string): err is NodeJS.ErrnoException {
  if (!(err instanceof Error) || typeof (err as NodeJS.ErrnoException).code !== 'string') {
    return false;
  }
  return code === undefined || (err as NodeJS.ErrnoException).code === code;
}

/** A message for a value that was thrown, whatever it is. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
