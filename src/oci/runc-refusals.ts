import type { ErrorCode } from '../errors.js';

/**
 * runc's (and conmon's) failures that the request caused, not the node: a command the image does not have
 * or cannot run, a working dir that is not a directory (INVALID_ARGUMENT); a container that
 * ended while the call was on its way (FAILED_PRECONDITION). containerd passes them on as
 * they come; Coracle names them, so that no request's content is ever an INTERNAL
 * (test/cri/cri-fuzz.test.ts). Matched on runc's own wording; the command may hold anything,
 * so only the end of the line is trusted.
 */
const REFUSALS: [RegExp, ErrorCode][] = [
  [/unable to start container process: exec(:| ).*: (executable file not found in \$PATH|no such file or directory|not a directory|is a directory|permission denied|exec format error|file name too long)\\?"?$/, 'INVALID_ARGUMENT'],
  [/unable to start container process: chdir to cwd .* set in config\.json failed: (not a directory|no such file or directory|permission denied)\\?"?$/, 'INVALID_ARGUMENT'],
  // A user mount whose source and destination are not of one kind (a file onto a dir).
  [/error during container init: (error mounting .* to rootfs at .*|mkdir .*): (not a directory|is a directory|no such file or directory)\\?"?$/, 'INVALID_ARGUMENT'],
  // conmon: a log path that names a directory.
  [/Failed to open log file:? (Is a directory|Not a directory)$/, 'INVALID_ARGUMENT'],
  [/^"?container not running"?$|: container not running"?$|cannot (exec|update) (in )?a (stopped|paused) container/, 'FAILED_PRECONDITION'],
];

/** The code of a runc error message (its last line) that the request caused; undefined otherwise. */
export function runcRefusal(message: string): ErrorCode | undefined {
  const line = message.trim().split('\n').pop() ?? '';
  return REFUSALS.find(([r]) => r.test(line))?.[1];
}
