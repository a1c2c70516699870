import { readFile } from 'node:fs/promises';
import { invalidArgument, messageOf } from '../errors.js';

/** The OCI spec's linux.seccomp. */
export interface OciSeccomp {
  defaultAction: string;
  architectures?: string[];
  syscalls: { names: string[]; action: string; errnoRet?: number; args?: unknown[] }[];
}

export type SeccompRequest = { kind: 'unconfined' } | { kind: 'runtime-default' } | { kind: 'localhost'; path: string };

/**
 * The RuntimeDefault profile: everything allowed but what lets a container reach past its
 * namespaces or change the node (module and keyring calls, mount and namespace calls, clock,
 * reboot, tracing other processes, kernel memory policy…), the calls Docker's default
 * profile and containerd's refuse. They fail with EPERM.
 */
const DENIED = [
  'acct', 'add_key', 'bpf', 'clock_adjtime', 'clock_settime', 'create_module', 'delete_module',
  'finit_module', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'get_kernel_syms', 'get_mempolicy',
  'init_module', 'ioperm', 'iopl', 'kcmp', 'kexec_file_load', 'kexec_load', 'keyctl',
  'lookup_dcookie', 'mbind', 'mount', 'mount_setattr', 'move_mount', 'move_pages',
  'name_to_handle_at', 'nfsservctl', 'open_by_handle_at', 'open_tree', 'perf_event_open',
  'pivot_root', 'process_vm_readv', 'process_vm_writev', 'ptrace', 'query_module', 'quotactl',
  'quotactl_fd', 'reboot', 'request_key', 'set_mempolicy', 'setns', 'settimeofday', 'stime',
  'swapoff', 'swapon', 'sysfs', '_sysctl', 'umount', 'umount2', 'unshare', 'uselib',
  'userfaultfd', 'ustat', 'vm86', 'vm86old',
];

export const RUNTIME_DEFAULT_SECCOMP: OciSeccomp = {
  defaultAction: 'SCMP_ACT_ALLOW',
  architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  syscalls: [{ names: DENIED, action: 'SCMP_ACT_ERRNO' }],
};

interface ProfileDoc {
  defaultAction?: unknown;
  architectures?: unknown;
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  syscalls?: { name?: string; names?: string[]; action?: string; errnoRet?: number; args?: unknown[]; includes?: unknown; excludes?: unknown }[];
}

/** A seccomp profile file (Docker's format, which kubelet's Localhost profiles use) as OCI's. */
export function profileToOci(doc: ProfileDoc, path: string): OciSeccomp {
  if (typeof doc.defaultAction !== 'string') throw invalidArgument(`seccomp profile ${path}: no defaultAction`);
  const architectures = Array.isArray(doc.architectures)
    ? (doc.architectures as string[])
    : (doc.archMap ?? []).flatMap((a) => [a.architecture, ...(a.subArchitectures ?? [])]);
  return {
    defaultAction: doc.defaultAction,
    ...(architectures.length > 0 ? { architectures } : {}),
    syscalls: (doc.syscalls ?? []).map((s, i) => {
      const names = s.names ?? (s.name ? [s.name] : []);
      if (names.length === 0 || typeof s.action !== 'string') throw invalidArgument(`seccomp profile ${path}: syscalls[${i}] needs names and an action`);
      return { names, action: s.action, ...(s.errnoRet !== undefined ? { errnoRet: s.errnoRet } : {}), ...(s.args ? { args: s.args } : {}) };
    }),
  };
}

/** What goes into the spec; undefined for no filter. A privileged container gets none. */
export async function seccompFor(req: SeccompRequest, privileged: boolean): Promise<OciSeccomp | undefined> {
  if (privileged || req.kind === 'unconfined') return undefined;
  if (req.kind === 'runtime-default') return RUNTIME_DEFAULT_SECCOMP;
  let doc: ProfileDoc;
  try {
    doc = JSON.parse(await readFile(req.path, 'utf8')) as ProfileDoc;
  } catch (err) {
    throw invalidArgument(`seccomp profile ${req.path}: ${messageOf(err)}`);
  }
  return profileToOci(doc, req.path);
}
