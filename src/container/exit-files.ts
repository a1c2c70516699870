import { readdir } from 'node:fs/promises';
import type { ContainerRecord } from './container-store.js';

/**
 * The names in conmon's exit dir (one file per container that exited, named by its id), or
 * undefined when the dir cannot be read. One readdir where a list used to try to open an
 * exit file per running container: with 100 containers that was 100 failed opens (each an
 * ENOENT error object) per ListContainers.
 */
export async function exitFileNames(dir: string): Promise<Set<string> | undefined> {
  try {
    return new Set(await readdir(dir));
  } catch {
    return undefined;
  }
}

/**
 * Whether a listed container's exit file must be read: only a RUNNING one can have exited
 * unrecorded, and only one whose exit file is there has. Without a listing (`names`
 * undefined) every RUNNING one is read, as before.
 *
 * Why this is as right as reading each file: conmon creates the exit file when the
 * container exits, before anything else can see the exit. The readdir is taken during the
 * call, so an exit that created its file before it is in `names` and read; one after it is
 * an exit that happened after the list was taken, which the next list (or the exit watcher)
 * sees. No state is kept between calls, so a missed watcher event changes nothing here.
 */
export function needsExitRead(c: Pick<ContainerRecord, 'id' | 'state'>, names: ReadonlySet<string> | undefined): boolean {
  return c.state === 'RUNNING' && (names === undefined || names.has(c.id));
}
