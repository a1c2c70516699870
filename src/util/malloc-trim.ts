import { libcLibrary } from './fs-syscalls.js';

let trim: ((pad: number) => number) | undefined;

/**
 * glibc's malloc_trim(0): gives back to the kernel the free memory of every malloc arena. A
 * thread that ends (an unpack worker) leaves its arena's pages mapped and counted in the
 * daemon's RSS, about 10 MiB after a pull, which glibc's own trimming (of the top of the
 * main arena only) never returns. Thread-safe; a walk of the arenas, well under a
 * millisecond for a daemon's. Returns whether any memory was given back.
 */
export function mallocTrim(): boolean {
  trim ??= libcLibrary().func('int malloc_trim(size_t pad)') as (pad: number) => number;
  return trim(0) === 1;
}
