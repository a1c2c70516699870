import { CoracleError, invalidArgument, messageOf } from '../errors.js';
import { readRegularFile } from '../util/bounded-read.js';
import { SCMP_ARCHES } from './seccomp-default.js';
import { kernelAtLeast, kernelVersion, nodeArch, runtimeDefaultProfile, type OciSeccomp, type SeccompArch, type SeccompContext } from './seccomp-profile.js';

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
 * The node's entry of a Docker archMap: its architecture and sub-architectures only, as Docker
 * reads it. libseccomp refuses a filter that mixes byte orders (x86_64 with s390x or mips64),
 * so the whole map cannot go into the spec. No entry for the node: none (the native one only).
 */
function archMapFor(archMap: NonNullable<ProfileDoc['archMap']>, arch: SeccompArch): string[] {
  const native = SCMP_ARCHES[arch][0];
  const entry = archMap.find((a) => a.architecture === native);
  return entry ? [entry.architecture, ...(entry.subArchitectures ?? [])] : [];
}

/**
 * A seccomp profile file (Docker's format, which kubelet's Localhost profiles use) as OCI's,
 * with the rules whose includes and excludes do not hold for this container left out.
 */
export function profileToOci(doc: ProfileDoc, path: string, ctx: SeccompContext): OciSeccomp {
  if (typeof doc.defaultAction !== 'string') throw invalidArgument(`seccomp profile ${path}: no defaultAction`);
  if (doc.defaultErrnoRet !== undefined && !Number.isInteger(doc.defaultErrnoRet)) throw invalidArgument(`seccomp profile ${path}: defaultErrnoRet is not an integer`);
  const architectures = Array.isArray(doc.architectures) ? (doc.architectures as string[]) : archMapFor(doc.archMap ?? [], ctx.arch);
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
  const text = (await readRegularFile(req.path, { max: MAX_PROFILE_BYTES, what: 'seccomp profile' })).toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CoracleError('INVALID_ARGUMENT', `seccomp profile ${req.path}: not JSON: ${messageOf(err)}`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalidArgument(`seccomp profile ${req.path}: not a JSON object`);
  return profileToOci(doc as ProfileDoc, req.path, ctx);
}
