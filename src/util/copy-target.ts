import { posix } from 'node:path';

/** What a copy's destination is before the copy: nothing, a directory, or anything else (a file). */
export type DestKind = 'missing' | 'directory' | 'other';

/** Where a copy's tar is written: the same rules on the host (cp CONTAINER:SRC DEST) and in a container (cp SRC CONTAINER:DEST). */
export interface CopyTarget {
  /** The directory the entries are written in (DEST, or DEST's parent). */
  dir: string;
  /**
   * true: the tar's top entry stands for `dir` itself (made when missing, with the top
   * entry's mode; an existing one keeps its own), only what is under it is written, in `dir`.
   * false: the top entry is written in `dir`, as `rename` when set, else under its own name.
   */
  contents: boolean;
  rename?: string;
}

/** DEST without its trailing `/` or `/.` (kept as `/` or `.` when nothing else is left). */
export function trimDest(dest: string): string {
  const t = dest.replace(/(\/\.?)+$/, '');
  if (t !== '') return t;
  return dest.startsWith('/') ? '/' : '.';
}

/**
 * docker cp's rules (docs.docker.com/reference/cli/docker/container/cp): SRC a file: into
 * DEST when it is a directory, else saved as DEST (a DEST ending in `/` must be a
 * directory). SRC a directory: DEST missing: made, SRC's contents in it; DEST a directory:
 * SRC copied into it, or only its contents when `srcContents` (SRC ends in `/.`); DEST
 * anything else: refused. A string is the reason a copy is refused.
 */
export function copyTarget(src: { dir: boolean; contents: boolean }, dest: string, destKind: DestKind): CopyTarget | string {
  const d = trimDest(dest);
  const slash = d !== dest;
  if (!src.dir) {
    if (destKind === 'directory') return { dir: d, contents: false };
    if (slash) return destKind === 'missing' ? `${dest}: no such directory` : `${dest}: not a directory`;
    return { dir: posix.dirname(d), contents: false, rename: posix.basename(d) };
  }
  if (destKind === 'other') return `${dest}: cannot copy a directory to a file`;
  return { dir: d, contents: destKind === 'missing' || src.contents };
}
