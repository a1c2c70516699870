import { closeSync, constants, openSync } from 'node:fs';
import { fsetxattr } from '../../src/util/at-syscalls.js';

/** The xattr of a directory's default ACL, which what is made in it inherits. */
export const DEFAULT_ACL_XATTR = 'system.posix_acl_default';

/** A default ACL as the kernel stores it (version 2, then tag, perm, id each): user::rwx, group::r-x, other::---. */
export const DEFAULT_ACL = Buffer.from('02000000' + '01000700ffffffff' + '04000500ffffffff' + '20000000ffffffff', 'hex');

/** Gives the directory `dir` the default ACL above: files made in it get at most 0750, whatever mode they ask. */
export function setDefaultAcl(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsetxattr(fd, DEFAULT_ACL_XATTR, DEFAULT_ACL);
  } finally {
    closeSync(fd);
  }
}
