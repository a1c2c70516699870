import { closeSync, openSync } from 'node:fs';
import { O_DIRECTORY, O_RDONLY } from './at-syscalls.js';
import { libcLibrary } from './fs-syscalls.js';

/**
 * Marks a directory as the top of separate trees (`chattr +T`, FS_TOPDIR_FL), so that ext4
 * places each directory made in it in a block group of its own, as it does for directories
 * made in `/`, instead of in the group of this one.
 *
 * Why it matters (measured, see docs/benchmarks.md, bench/pull): ext4 without a journal
 * passes over every inode freed in the last 60 s (360 s while its inode table block is not
 * written back) when it allocates one, scanning its group from the start each time
 * (find_inode_bit, recently_deleted in fs/ext4/ialloc.c). A pull after a removal, or after
 * any unpack that failed and was cleaned up, made each new file scan past thousands of them:
 * 4000 files cost 2.1–3.5 s of kernel CPU instead of 0.09 s, most of a pull's CPU. A
 * snapshot's staging directory has a random name, and the group of a directory made under a
 * top directory is chosen from that name's hash among the emptiest groups, so each
 * snapshot's files go to a group that recent removals most likely did not touch (a group
 * just emptied is among the emptiest too: about 1 snapshot in 10 still lands in one, in a
 * test here). Nothing else changes: the flag is not inherited, and only says where new
 * inodes go. With a journal, ext4 makes no such scan, and the flag only spreads snapshots
 * over block groups as `/` spreads its directories.
 *
 * Other filesystems have no such flag (xfs, btrfs, tmpfs answer ENOTTY, EOPNOTSUPP or
 * EINVAL): there it is a no-op. It is a placement hint only, so no failure is an error: the
 * answer says whether it took.
 */

/** linux/fs.h, x86_64 and arm64 alike: _IOR('f', 1, long) and _IOW('f', 2, long). */
const FS_IOC_GETFLAGS = 0x80086601;
const FS_IOC_SETFLAGS = 0x40086602;
const FS_TOPDIR_FL = 0x00020000;

type Ioctl = (fd: number, request: number, arg: Buffer) => number;
let ioctl: Ioctl | undefined;

/**
 * Sets FS_TOPDIR_FL on the directory `path` (the daemon's own, trusted: followed as the mkdir
 * that made it was); false where it did not take, whatever the reason.
 */
export function markTopDir(path: string): boolean {
  ioctl ??= libcLibrary().func('int ioctl(int fd, unsigned long request, _Inout_ void *arg)') as Ioctl;
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_DIRECTORY);
  } catch {
    return false;
  }
  try {
    // The kernel reads and writes an int, whatever the request's size field says.
    const flags = Buffer.alloc(8);
    if (ioctl(fd, FS_IOC_GETFLAGS, flags) !== 0) return false;
    const had = flags.readUInt32LE(0);
    if (had & FS_TOPDIR_FL) return true;
    flags.writeUInt32LE((had | FS_TOPDIR_FL) >>> 0, 0);
    return ioctl(fd, FS_IOC_SETFLAGS, flags) === 0;
  } finally {
    closeSync(fd);
  }
}
