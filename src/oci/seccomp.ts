import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { CoracleError, invalidArgument, messageOf } from '../errors.js';
import { kernelAtLeast, kernelVersion, nodeArch, runtimeDefaultProfile, type OciSeccomp, type SeccompContext } from './seccomp-profile.js';

export type { OciSeccomp } from './seccomp-profile.js';

export type SeccompRequest = { kind: 'unconfined' } | { kind: 'runtime-default' } | { kind: 'localhost'; path: string };

/** Docker's names for the architectures, which a profile file's includes and excludes use. */
const DOCKER_ARCH = { x86_64: 'amd64', aarch64: 'arm64' } as const;

interface Conditions {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

interface ProfileDoc {
  defaultAction?: unknown;
  defaultErrnoRet?: unknown;
  architectures?: unknown;
  archMap?: { architecture: string; subArchitectures?: string[] | null }[];
  syscalls?: { name?: string; names?: string[]; action?: string; errnoRet?: number; args?: unknown[]; includes?: Conditions; excludes?: Conditions }[];
}

/**
 * Whether a rule of a profile file applies to this container, as Docker reads its format:
 * every condition of `includes` must hold (all its caps held, the node's arch listed, the
 * kernel at least minKernel), and none of `excludes` (any of its caps held, the arch listed,
 * the kernel at least minKernel).
 */
function applies(rule: { includes?: Conditions; excludes?: Conditions }, ctx: SeccompContext, path: string): boolean {
  const kernel = (c: Conditions): boolean => {
    const m = /^(\d+)\.(\d+)/.exec(c.minKernel ?? '');
    if (!m) throw invalidArgument(`seccomp profile ${path}: minKernel "${c.minKernel}" is not MAJOR.MINOR`);
    return kernelAtLeast(ctx.kernel, [Number(m[1]), Number(m[2])]);
  };
  const inc = rule.includes;
  if (inc) {
    if (inc.caps?.some((c) => !ctx.capabilities.includes(c))) return false;
    if (inc.arches?.length && !inc.arches.includes(DOCKER_ARCH[ctx.arch])) return false;
    if (inc.minKernel && !kernel(inc)) return false;
  }
  const exc = rule.excludes;
  if (exc) {
    if (exc.caps?.some((c) => ctx.capabilities.includes(c))) return false;
    if (exc.arches?.includes(DOCKER_ARCH[ctx.arch])) return false;
    if (exc.minKernel && kernel(exc)) return false;
  }
  return true;
}

/**
 * A seccomp profile file (Docker's format, which kubelet's Localhost profiles use) as OCI's,
 * with the rules whose includes and excludes do not hold for this container left out.
 */
export function profileToOci(doc: ProfileDoc, path: string, ctx: SeccompContext): OciSeccomp {
  if (typeof doc.defaultAction !== 'string') throw invalidArgument(`seccomp profile ${path}: no defaultAction`);
  if (doc.defaultErrnoRet !== undefined && !Number.isInteger(doc.defaultErrnoRet)) throw invalidArgument(`seccomp profile ${path}: defaultErrnoRet is not an integer`);
  const architectures = Array.isArray(doc.architectures)
    ? (doc.architectures as string[])
    : (doc.archMap ?? []).flatMap((a) => [a.architecture, ...(a.subArchitectures ?? [])]);
  const syscalls: OciSeccomp['syscalls'] = [];
  for (const [i, s] of (doc.syscalls ?? []).entries()) {
    const names = s.names ?? (s.name ? [s.name] : []);
    if (names.length === 0 || typeof s.action !== 'string') throw invalidArgument(`seccomp profile ${path}: syscalls[${i}] needs names and an action`);
    if (!applies(s, ctx, path)) continue;
    syscalls.push({ names, action: s.action, ...(s.errnoRet !== undefined ? { errnoRet: s.errnoRet } : {}), ...(s.args ? { args: s.args as OciSeccomp['syscalls'][number]['args'] } : {}) });
  }
  return {
    defaultAction: doc.defaultAction,
    ...(typeof doc.defaultErrnoRet === 'number' ? { defaultErrnoRet: doc.defaultErrnoRet } : {}),
    ...(architectures.length > 0 ? { architectures } : {}),
    syscalls,
  };
}

/** Docker's default profile is 20 KiB; a profile file is read up to this size. */
const MAX_PROFILE_BYTES = 1024 * 1024;

/** A regular file of at most MAX_PROFILE_BYTES, opened without blocking on a FIFO. */
async function readProfile(path: string): Promise<string> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_PROFILE_BYTES) throw new Error(`larger than ${MAX_PROFILE_BYTES} bytes`);
    const buf = Buffer.alloc(MAX_PROFILE_BYTES + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) break;
    }
    if (n > MAX_PROFILE_BYTES) throw new Error(`larger than ${MAX_PROFILE_BYTES} bytes`);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    await fh.close();
  }
}

/**
 * What goes into the spec; undefined for no filter. A privileged container gets none.
 * `capabilities` is the container's effective set, as it goes into the spec.
 */
export async function seccompFor(req: SeccompRequest, container: { privileged: boolean; capabilities: readonly string[] }): Promise<OciSeccomp | undefined> {
  if (container.privileged || req.kind === 'unconfined') return undefined;
  const arch = nodeArch();
  if (!arch) throw new CoracleError('FAILED_PRECONDITION', `seccomp: this node's architecture (${process.arch}) has no profile; ask for Unconfined`);
  const ctx: SeccompContext = { arch, capabilities: container.capabilities, kernel: kernelVersion() };
  if (req.kind === 'runtime-default') return runtimeDefaultProfile(ctx);
  let doc: ProfileDoc;
  try {
    doc = JSON.parse(await readProfile(req.path)) as ProfileDoc;
  } catch (err) {
    throw invalidArgument(`seccomp profile ${req.path}: ${messageOf(err)}`);
  }
  return profileToOci(doc, req.path, ctx);
}
