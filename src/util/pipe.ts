import { O_CLOEXEC } from './at-syscalls.js';
import { fail, libcLibrary } from './fs-syscalls.js';

/**
 * pipe2(2) through koffi: Node makes the pipes of a child's stdio itself and reads them as it
 * likes (its own 64 KiB buffer per read, and on reading until its stream's high-water mark even
 * while paused). A pipe of our own can be read through `new net.Socket({ fd, onread })`,
 * which reads into a buffer we give and stops at once when paused. Both ends are
 * close-on-exec, so that no other child inherits them; spawn's dup2 into a child's stdio
 * clears the flag on that copy only.
 */
let pipe2: ((fds: Int32Array, flags: number) => number) | undefined;

/** A new pipe: [read end, write end]. */
export function makePipe(): [number, number] {
  pipe2 ??= libcLibrary().func('int pipe2(_Out_ int *fds, int flags)') as (fds: Int32Array, flags: number) => number;
  const fds = new Int32Array(2);
  if (pipe2(fds, O_CLOEXEC) !== 0) fail('pipe2', 'pipe');
  return [fds[0]!, fds[1]!];
}
