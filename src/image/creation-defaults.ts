import { fstatSync, readFileSync } from 'node:fs';
import { isErrno } from '../errors.js';
import { fgetxattr } from '../util/at-syscalls.js';

/**
 * What a file the unpacker creates gets from the kernel by itself, so that only what differs
 * is set after: its owner is the creating thread's (the daemon's euid), its group the
 * daemon's egid, or the directory's in a setgid directory (or on a grpid mount); its mode the
 * one asked at open less the umask, unless a POSIX default ACL decides it. Most of a layer's
 * files are root's, 0644 or 0755, in root's directories: their fchown and fchmod changed
 * nothing, and were two of the six system calls a small file cost (bench/pull's image: 4,000
 * small files a pull; bench/unpack.ts). What is assumed: a local POSIX file system (ext4,
 * xfs, btrfs, tmpfs) under the snapshots, where the umask and default ACLs are all that
 * narrow a mode asked at open; an NFSv4 ACL would not be seen here.
 *
 * One per layer being unpacked; it learns each directory's group the first time a file is
 * made in it, and forgets them all when a directory's entry sets its owner or mode, or when
 * the unpacker drops its directory fds (a removal may have replaced what a path names).
 */

/** The kernel's ACL of a directory, inherited by what is made in it, and which then decides the mode in place of the umask. */
const DEFAULT_ACL = 'system.posix_acl_default';
const S_ISGID = 0o2000;
/** setuid, setgid, sticky: never asked at open (chown may clear them, and a file's group decides whether setgid stays), always set after. */
const SPECIAL_BITS = 0o7000;

export interface CreatorIds {
  euid: number;
  egid: number;
  umask: number;
}

/** The daemon's ids and umask, as a file it creates gets them (the umask from /proc: Node's process.umask() reading it is deprecated). */
export function creatorIds(): CreatorIds {
  const umask = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'))?.[1];
  // Unknown: taken as one that masks everything, so that every mode is set after.
  return { euid: process.geteuid!(), egid: process.getegid!(), umask: umask === undefined ? 0o777 : parseInt(umask, 8) };
}

function hasDefaultAcl(dirFd: number): boolean {
  try {
    fgetxattr(dirFd, DEFAULT_ACL);
    return true;
  } catch (err) {
    // ENODATA: none; ENOTSUP: a file system without ACLs. Anything else: taken as one.
    return !['ENODATA', 'ENOTSUP', 'EOPNOTSUPP'].some((code) => isErrno(err, code));
  }
}

export class CreationDefaults {
  /** The group a file made in the directory gets, by the directory's path in the layer. */
  private readonly groups = new Map<string, number>();
  /** Whether a default ACL may decide modes: on the layer's root (inherited from above it), or set by an entry. */
  private acl: boolean;

  constructor(
    rootFd: number,
    private readonly ids: CreatorIds,
  ) {
    this.acl = hasDefaultAcl(rootFd);
  }

  /** The mode to create a file of `mode` with, and whether the file then has exactly `mode`. */
  openMode(mode: number): { mode: number; exact: boolean } {
    const wanted = mode & 0o7777;
    if (this.acl || wanted & SPECIAL_BITS || wanted & this.ids.umask) return { mode: 0o600, exact: false };
    return { mode: wanted, exact: true };
  }

  /** Whether a file just made in the directory `rel` (open as `dirFd`) is owned by `uid`:`gid` already. */
  owns(rel: string, dirFd: number, uid: number, gid: number): boolean {
    if (uid !== this.ids.euid) return false;
    let group = this.groups.get(rel);
    if (group === undefined) {
      // A setgid directory gives its group; another gives the creator's egid, or its own
      // group on a file system mounted with grpid (bsdgroups). Only where both rules agree is
      // the group known; elsewhere (NaN) the file is chowned.
      const st = fstatSync(dirFd);
      group = st.mode & S_ISGID || st.gid === this.ids.egid ? st.gid : NaN;
      this.groups.set(rel, group);
    }
    return gid === group;
  }

  /**
   * Every group is learnt again: a directory's owner or mode was just set (its own entry:
   * every path, not only its own, since another may name it through a symlink), or the
   * unpacker let go of its directory fds (a path may name another directory now).
   */
  dirsChanged(): void {
    this.groups.clear();
  }

  /** An xattr `name` was set on something of the layer's: a default ACL there decides modes from now on. */
  xattrSet(name: string): void {
    if (name === DEFAULT_ACL) this.acl = true;
  }
}
