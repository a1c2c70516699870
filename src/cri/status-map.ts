import { errorCodeOf, type ErrorCode } from '../errors.js';
import { Status, type RpcStatus, type StatusCode } from './grpc-status.js';

const CODES: Record<ErrorCode, StatusCode> = {
  CANCELLED: Status.CANCELLED,
  INVALID_ARGUMENT: Status.INVALID_ARGUMENT,
  DEADLINE_EXCEEDED: Status.DEADLINE_EXCEEDED,
  NOT_FOUND: Status.NOT_FOUND,
  ALREADY_EXISTS: Status.ALREADY_EXISTS,
  PERMISSION_DENIED: Status.PERMISSION_DENIED,
  RESOURCE_EXHAUSTED: Status.RESOURCE_EXHAUSTED,
  FAILED_PRECONDITION: Status.FAILED_PRECONDITION,
  ABORTED: Status.ABORTED,
  UNIMPLEMENTED: Status.UNIMPLEMENTED,
  INTERNAL: Status.INTERNAL,
  UNAVAILABLE: Status.UNAVAILABLE,
  DATA_LOSS: Status.DATA_LOSS,
  UNAUTHENTICATED: Status.UNAUTHENTICATED,
};

export type CriError = RpcStatus;

/**
 * The one place errors become gRPC statuses. A CoracleError keeps the code it was raised
 * with; a system error that says a resource ran out (ENOSPC) is RESOURCE_EXHAUSTED;
 * anything else (another system error, a bug) is INTERNAL with its message, never
 * UNKNOWN, so that clients can tell our failures from transport ones.
 */
export function toGrpcError(err: unknown): CriError {
  const message = err instanceof Error ? err.message : String(err);
  return { code: CODES[errorCodeOf(err)], details: message };
}

/** Client mistakes are logged quietly; INTERNAL and UNKNOWN are the daemon's problem. */
export function logLevelFor(code: StatusCode): 'debug' | 'info' | 'error' {
  switch (code) {
    case Status.UNIMPLEMENTED:
    case Status.NOT_FOUND:
    case Status.CANCELLED:
      return 'debug';
    case Status.INTERNAL:
    case Status.UNKNOWN:
    case Status.DATA_LOSS:
      return 'error';
    default:
      return 'info';
  }
}
