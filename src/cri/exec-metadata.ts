import { invalidArgument } from '../errors.js';
import type { ExecOverrides } from '../oci/exec-overrides.js';

/**
 * The request metadata with which Coracle's CLI gives an exec what CRI's ExecRequest and
 * ExecSyncRequest have no field for (docker exec's -e, -u, -w, -d): a gRPC header, JSON,
 * that only a client of the socket sets (kubelet sets none).
 */
export const EXEC_OVERRIDES_METADATA = 'coracle-exec-overrides';

/** Caps on what the header may carry: its size, its variables. */
const MAX_HEADER = 64 * 1024;
const MAX_ENV = 1024;

/** The overrides the header carries, checked; undefined without the header. */
export function execOverridesOf(header: string | undefined, what: string): ExecOverrides | undefined {
  if (header === undefined) return undefined;
  const bad = (why: string): Error => invalidArgument(`${what}: ${EXEC_OVERRIDES_METADATA}: ${why}`);
  if (header.length > MAX_HEADER) throw bad(`longer than ${MAX_HEADER} bytes`);
  let v: unknown;
  try {
    v = JSON.parse(header);
  } catch {
    throw bad('not JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad('not an object');
  const o = v as Record<string, unknown>;
  const out: ExecOverrides = {};
  if (o.env !== undefined) {
    if (!Array.isArray(o.env) || o.env.length > MAX_ENV || !o.env.every((e) => typeof e === 'string' && /^[^=\0]+=[^\0]*$/.test(e))) throw bad(`env: at most ${MAX_ENV} KEY=VALUE strings`);
    out.env = o.env as string[];
  }
  if (o.user !== undefined) {
    if (typeof o.user !== 'string' || !/^[^:\0\s]{1,256}(:[^:\0\s]{1,256})?$/.test(o.user)) throw bad('user: name, uid, name:group or uid:gid');
    out.user = o.user;
  }
  if (o.workdir !== undefined) {
    if (typeof o.workdir !== 'string' || !o.workdir.startsWith('/') || o.workdir.length > 4096 || o.workdir.includes('\0')) throw bad('workdir: an absolute path');
    out.workdir = o.workdir;
  }
  if (o.detach !== undefined) {
    if (typeof o.detach !== 'boolean') throw bad('detach: true or false');
    out.detach = o.detach;
  }
  return out;
}
