import { closeSync, openSync, readdirSync } from 'node:fs';
import { mkdirat, O_DIRECTORY, O_NOFOLLOW, O_RDONLY, openat } from '../../src/util/at-syscalls.js';

/** How many fds this process holds: a walk of a deep tree must leave it as it found it. */
export const openFds = (): number => readdirSync('/proc/self/fd').length;

/** `depth` nested dirs named `name` under `root`, made by fd (the path may pass PATH_MAX). */
export function deepTree(root: string, depth: number, name = 'd'): void {
  let fd = openSync(root, O_RDONLY | O_DIRECTORY);
  try {
    for (let i = 0; i < depth; i++) {
      mkdirat(fd, name, 0o755);
      const sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      closeSync(fd);
      fd = sub;
    }
  } finally {
    closeSync(fd);
  }
}
