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

/** System errors that say a resource ran out: RESOURCE_EXHAUSTED, as containerd answers them. */
const EXHAUSTED_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EMFILE', 'ENFILE', 'ENOMEM']);
const EXHAUSTED_NUMBERS = new Set([28, 122, 24, 23, 12]);

/** The code a system error or a helper's errno maps to, when it says more than INTERNAL. */
export function codeForErrno(errno: string | number | undefined): ErrorCode | undefined {
  if (errno === undefined) return undefined;
  // A name the client chose that the kernel cannot take: its request is at fault.
  if (errno === 'ENAMETOOLONG' || errno === 36) return 'INVALID_ARGUMENT';
  if (typeof errno === 'number') return EXHAUSTED_NUMBERS.has(errno) ? 'RESOURCE_EXHAUSTED' : undefined;
  return EXHAUSTED_ERRNOS.has(errno) ? 'RESOURCE_EXHAUSTED' : undefined;
}

/**
 * The code a tool's error message says (runc, conmon and the helpers print strerror): a
 * resource that ran out is RESOURCE_EXHAUSTED, runc's "container does not exist" NOT_FOUND.
 */
export function codeForToolMessage(message: string): ErrorCode | undefined {
  if (/no space left on device|disk quota exceeded|too many open files/i.test(message)) return 'RESOURCE_EXHAUSTED';
  if (/container (\S+ )?does not exist|container not found/i.test(message)) return 'NOT_FOUND';
  return undefined;
}

/**
 * The code of anything thrown: a CoracleError keeps its own, a system error whose errno says
 * a resource ran out (ENOSPC…) is RESOURCE_EXHAUSTED, anything else is INTERNAL.
 */
export function errorCodeOf(err: unknown): ErrorCode {
  if (err instanceof CoracleError) return err.code;
  if (isErrno(err)) return codeForErrno(err.code) ?? 'INTERNAL';
  return 'INTERNAL';
}

/** `err` under a prefix naming the object (`container k8s_…: …`), its code and cause kept. */
export function withContext(prefix: string, err: unknown): CoracleError {
  return new CoracleError(errorCodeOf(err), `${prefix}: ${messageOf(err)}`, { cause: err });
}
