import { readFileInRoot } from '../util/in-root.js';
import { resolveUser } from './user.js';

/**
 * What an exec may change of the container's process spec, as docker exec's flags do: more
 * environment (`-e`, a key given replaces the container's), another user (`-u`: name, uid,
 * name:group or uid:gid, resolved through the container's /etc/passwd and /etc/group as at
 * create) and another working directory (`-w`). `detach` (`-d`) starts the command and
 * returns without its output.
 */
export interface ExecOverrides {
  env?: string[];
  user?: string;
  workdir?: string;
  detach?: boolean;
}

/** The container's process spec with the overrides applied; `rootfs` is its root, for the user's names. */
export async function applyExecOverrides(process: Record<string, unknown>, o: ExecOverrides | undefined, rootfs: string): Promise<Record<string, unknown>> {
  if (!o) return process;
  const out = { ...process };
  if (o.env && o.env.length > 0) {
    const keyOf = (e: string): string => e.slice(0, e.indexOf('=') < 0 ? e.length : e.indexOf('='));
    const given = new Set(o.env.map(keyOf));
    const own = Array.isArray(process.env) ? (process.env as string[]).filter((e) => !given.has(keyOf(e))) : [];
    out.env = [...own, ...o.env];
  }
  if (o.workdir) out.cwd = o.workdir;
  if (o.user) {
    const readEtc = async (f: string): Promise<string> => (await readFileInRoot(rootfs, `etc/${f}`, `/etc/${f} in the container`))?.toString('utf8') ?? '';
    const [passwd, group] = await Promise.all([readEtc('passwd'), readEtc('group')]);
    const u = resolveUser({ supplementalGroups: [], imageUser: o.user }, passwd, group);
    out.user = { uid: u.uid, gid: u.gid, ...(u.additionalGids.length > 0 ? { additionalGids: u.additionalGids } : {}) };
  }
  return out;
}
