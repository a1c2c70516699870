import { messageOf } from '../errors.js';

/**
 * The CLI's exit statuses, as docker's: 1 when the daemon refused or failed a request,
 * 2 for a usage error (a bad flag value, a missing argument), and for `run` 125 when the
 * container could not be made or started, 126 when its command could not be invoked and
 * 127 when it was not found; otherwise `run` exits with the container's own status.
 */
export class ExitStatusError extends Error {
  constructor(
    readonly exitStatus: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ExitStatusError';
  }
}

export const USAGE_STATUS = 2;

/** A usage error found after parsing (the flags' own are commander's, see flag-parsers.ts). */
export const usageError = (message: string): ExitStatusError => new ExitStatusError(USAGE_STATUS, message);

/** The status the CLI exits with when `err` ends it. */
export function exitStatusOf(err: unknown): number {
  return err instanceof ExitStatusError ? err.exitStatus : 1;
}

/**
 * How `run` ends when making or starting the container failed: 127 when the command was
 * not found, 126 when it was found but could not be executed, 125 for anything else. The
 * runtime's message is the only account there is (runc: `exec: "x": executable file not found
 * in $PATH`, `exec: "/etc/passwd": permission denied`), so its words decide, as docker's do.
 */
export function runFailure(err: unknown): ExitStatusError {
  if (err instanceof ExitStatusError) return err;
  const message = messageOf(err);
  const exec = /\bexec(?:ve)?\b[^\n]*?:\s*(.*)$/is.exec(message)?.[1] ?? '';
  let status = 125;
  if (/executable file not found|no such file or directory/i.test(exec)) status = 127;
  else if (/permission denied|is a directory/i.test(exec)) status = 126;
  return new ExitStatusError(status, message, { cause: err });
}
