import { arch as hostArch, release } from 'node:os';
import {
  ALLOWED_FROM_KERNEL, ALWAYS_ALLOWED, ARCH_ALLOWED, CAPABILITY_ALLOWED, CLONE_NAMESPACE_FLAGS, ENOSYS, EPERM,
  PERSONALITIES, REFUSED_SOCKET_FAMILIES, SCMP_ARCHES, type SeccompArch,
} from './seccomp-default.js';

export type { SeccompArch } from './seccomp-default.js';

/** One comparison on a call's argument, as the OCI spec has it. */
export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

/** The OCI spec's linux.seccomp. */
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls: { names: string[]; action: string; errnoRet?: number; args?: OciSeccompArg[] }[];
}

/** What a profile depends on: the node's architecture and kernel, the container's capabilities. */
export interface SeccompContext {
  arch: SeccompArch;
  /** The container's effective capabilities, as they go into the OCI spec (CAP_ names). */
  capabilities: readonly string[];
  /** The kernel's major and minor version. */
  kernel: readonly [number, number];
}

/** The node's architecture by its kernel name, or undefined for one Coracle does not run on. */
export function nodeArch(nodeName: string = hostArch()): SeccompArch | undefined {
  return nodeName === 'x64' ? 'x86_64' : nodeName === 'arm64' ? 'aarch64' : undefined;
}

/** Major and minor of a kernel release string ("6.1.0-18-amd64"); [0, 0] if it has none. */
export function kernelVersion(rel: string = release()): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

export const kernelAtLeast = (have: readonly [number, number], want: readonly [number, number]): boolean =>
  have[0] > want[0] || (have[0] === want[0] && have[1] >= want[1]);

/**
 * The RuntimeDefault profile for one container: EPERM for every call but those the data in
 * seccomp-default.ts allows for its architecture, kernel and capabilities. Without
 * CAP_SYS_ADMIN, clone is allowed only without namespace flags, and clone3 (whose flags sit
 * in a struct that seccomp cannot read) answers ENOSYS so that libc falls back to clone.
 */
export function runtimeDefaultProfile(ctx: SeccompContext): OciSeccomp {
  const allowed = new Set<string>([...Object.values(ALWAYS_ALLOWED).flat(), ...ARCH_ALLOWED[ctx.arch]]);
  for (const { kernel, names } of ALLOWED_FROM_KERNEL) if (kernelAtLeast(ctx.kernel, kernel)) for (const n of names) allowed.add(n);
  for (const [cap, names] of Object.entries(CAPABILITY_ALLOWED)) if (ctx.capabilities.includes(cap)) for (const n of names) allowed.add(n);

  const syscalls: OciSeccomp['syscalls'] = [{ names: [...allowed].sort(), action: 'SCMP_ACT_ALLOW' }];
  // A call allowed outright needs no rule on its arguments: the first rule already lets it through.
  const allowWith = (name: string, args: OciSeccompArg[]): void => {
    if (!allowed.has(name)) syscalls.push({ names: [name], action: 'SCMP_ACT_ALLOW', args });
  };
  // MASKED_EQ: (flags & value) == valueTwo, so no namespace flag may be set.
  allowWith('clone', [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
  if (!allowed.has('clone3')) syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  for (const p of PERSONALITIES) allowWith('personality', [{ index: 0, value: p, op: 'SCMP_CMP_EQ' }]);
  for (const args of socketFamilyRules(REFUSED_SOCKET_FAMILIES)) allowWith('socket', args);
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    architectures: [...SCMP_ARCHES[ctx.arch]],
    syscalls,
  };
}

/**
 * Rules on socket's first argument that together allow every family but the refused ones.
 * The kernel reads the family as an int, dropping bits 32-63 after the filter has run, while
 * libseccomp compares all 64 bits on a 64-bit architecture: a rule like "family > 40" lets
 * 0x1_0000_0026 through, which the kernel then opens as AF_ALG (38). So every rule here is a
 * MASKED_EQ whose mask has no high bits: (arg & mask) == start, with mask selecting an aligned
 * power-of-two block [start, start + size) of the low 32 bits. The blocks cover [0, 2^32) less
 * the refused values. (libseccomp ORs rules for one call, and one rule cannot compare an
 * argument twice, hence one rule per block: 34 for AF_ALG and AF_VSOCK.)
 */
export function socketFamilyRules(refused: readonly number[]): OciSeccompArg[][] {
  const LIMIT = 2 ** 32;
  const r = [...new Set(refused)].filter((v) => Number.isInteger(v) && v >= 0 && v < LIMIT).sort((a, b) => a - b);
  const rules: OciSeccompArg[][] = [];
  // Cover [from, to) with the largest aligned blocks that fit.
  const cover = (from: number, to: number): void => {
    let start = from;
    while (start < to) {
      let size = 1;
      while (start % (size * 2) === 0 && start + size * 2 <= to) size *= 2;
      rules.push([{ index: 0, value: LIMIT - size, valueTwo: start, op: 'SCMP_CMP_MASKED_EQ' }]);
      start += size;
    }
  };
  let from = 0;
  for (const v of r) {
    cover(from, v);
    from = v + 1;
  }
  cover(from, LIMIT);
  return rules;
}
