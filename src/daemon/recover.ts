import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../errors.js';
import type { Logger } from '../log.js';
import { writeFileDurable } from '../util/atomic-write.js';

/**
 * Recovery at start: how the daemon makes what its records say agree with the kernel, in one
 * place, after every store has loaded. What it assumes, as containerd's restart.go writes
 * down its own:
 *
 * 1. Durable state lives under the root dir: image records, snapshots and blobs (fsynced:
 *    they must survive a power loss; a container's writable layer is an active snapshot,
 *    whose info is fsynced and whose files are not), pod and container records (written
 *    atomically, not fsynced: a record left torn is set aside whole by RecordStore). Records
 *    carry a schema version; one from a newer Coracle is set aside too. The containers and
 *    the snapshots are on one filesystem (both under the root dir): a container record of an
 *    older version (1: its writable layer in its record's dir) has its dirs adopted into a
 *    snapshot by rename, then is saved in the new version.
 * 2. Volatile state lives under the state dir, a tmpfs under /run by default: namespace pins,
 *    /dev/shm and rootfs mounts, runc's state, conmon's exit files and attach sockets. It is
 *    gone after a reboot, as the processes it describes are.
 * 3. conmon outlives the daemon. A container that exited while the daemon was down has its
 *    exit file, which the container service reads at start as at any time.
 * 4. The boot id (/proc/sys/kernel/random/boot_id) is recorded under the root dir at every
 *    start. When the recorded one differs, the host has restarted since the last daemon ran:
 *    no container process, monitor, mount or namespace of before is left, whatever the
 *    records say, and no exit file tells of their end. Every container not EXITED is then
 *    marked EXITED with code 255 and reason Unknown (containerd's words for an end it did not
 *    see), its runtime state and mounts let go; every READY pod is stopped (its network torn
 *    down, its pins and pause process gone), as kubelet would find them after a reboot.
 *    Without this a RUNNING container stayed RUNNING, and stopping it waited out its timeout.
 *    No recorded id (a first start, or a root from before boot ids) is taken as the same boot.
 * 5. The order: stores loaded (each sets aside what it cannot read; the state and the
 *    snapshot of a container whose record was set aside are left alone, not collected as an
 *    orphan's; the snapshotter removes its stale staging dirs) → containers reconciled
 *    (legacy layers adopted; after a reboot, ended; half-made ones removed with their
 *    snapshots; orphans of no record (a record lost) collected, their state, then their
 *    snapshots; exits read) → pods reconciled (after a reboot, stopped; half-made ones torn
 *    down; lost namespaces make a pod NOTREADY; orphan attachments and pins collected) → the boot id
 *    recorded, last, so that a daemon killed during recovery recovers again at its next start;
 *    after a restart, not at all if any record failed to reconcile, for the same reason.
 */

export interface Recoverable {
  /** Reconciles what it can; says how many records it could not. */
  reconcile(o: { rebooted: boolean }): Promise<{ failed: number }>;
}

export interface RecoverDeps {
  /** The daemon's root dir: the boot id is kept there, beside the records. */
  root: string;
  containers: Recoverable;
  sandboxes: Recoverable;
  log: Logger;
  /** Where the kernel says which boot this is. */
  bootIdPath?: string;
}

const BOOT_ID = '/proc/sys/kernel/random/boot_id';
export const BOOT_ID_FILE = 'boot-id';

/** The boot id recorded by the last daemon on `root`, if any. */
async function recordedBootId(root: string): Promise<string | undefined> {
  try {
    return (await readFile(join(root, BOOT_ID_FILE), 'utf8')).trim() || undefined;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** Recovery as above; returns whether the host had restarted since the last daemon. */
export async function recover(deps: RecoverDeps): Promise<{ rebooted: boolean }> {
  const current = (await readFile(deps.bootIdPath ?? BOOT_ID, 'utf8')).trim();
  const recorded = await recordedBootId(deps.root);
  const rebooted = recorded !== undefined && recorded !== current;
  if (rebooted) deps.log.warn('the host restarted since the last daemon ran: what ran before is gone', { recorded, current });
  const failed = (await deps.containers.reconcile({ rebooted })).failed + (await deps.sandboxes.reconcile({ rebooted })).failed;
  if (rebooted && failed > 0) {
    // What was not ended now must be at the next start, which only the old id tells it.
    deps.log.error('recovery after the host restart failed for some records: the boot id is not recorded, the next start recovers again', { failed });
    return { rebooted };
  }
  // Durable: a boot id lost to a power loss would make the next start think nothing changed.
  await writeFileDurable(join(deps.root, BOOT_ID_FILE), `${current}\n`);
  return { rebooted };
}
