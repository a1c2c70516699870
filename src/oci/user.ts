import { invalidArgument } from '../errors.js';

/** The identity a container's process runs with. */
export interface ProcessUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** The passwd name of uid, when it has one. */
  username?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** /etc/passwd lines: name:x:uid:gid:gecos:home:shell; malformed lines are passed over. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(':');
    if (f.length < 4 || line.startsWith('#') || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) });
  }
  return out;
}

/** /etc/group lines: name:x:gid:member,member. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(':');
    if (f.length < 3 || line.startsWith('#') || !/^\d+$/.test(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

export interface UserRequest {
  /** CRI run_as_user; wins over everything but is overridden by nothing. */
  runAsUser?: number;
  /** CRI run_as_username. */
  runAsUsername?: string;
  /** CRI run_as_group. */
  runAsGroup?: number;
  /** CRI supplemental_groups. */
  supplementalGroups: number[];
  /** The image's USER: "", "name", "uid", "name:group", "uid:gid". */
  imageUser: string;
}

const isNumeric = (s: string): boolean => /^\d+$/.test(s);

/**
 * Resolves a container's user through the rootfs's /etc/passwd and /etc/group, as runc and
 * containerd do: a name must exist; a uid need not (its gid is then 0 unless given); the
 * user's groups from /etc/group are added to the supplemental groups.
 */
export function resolveUser(req: UserRequest, passwdText: string, groupText: string): ProcessUser {
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  let userPart: string;
  let groupPart: string | undefined;
  if (req.runAsUser !== undefined) userPart = String(req.runAsUser);
  else if (req.runAsUsername) userPart = req.runAsUsername;
  else {
    const [u, g] = req.imageUser.split(':');
    userPart = u || '0';
    groupPart = g || undefined;
  }
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (isNumeric(userPart)) {
    uid = Number(userPart);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw invalidArgument(`user "${userPart}": not found in the image's /etc/passwd`);
    uid = entry.uid;
  }
  let gid = entry?.gid ?? 0;
  if (req.runAsGroup !== undefined) gid = req.runAsGroup;
  else if (groupPart !== undefined) {
    if (isNumeric(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw invalidArgument(`group "${groupPart}": not found in the image's /etc/group`);
      gid = g.gid;
    }
  }
  const memberOf = entry ? groups.filter((g) => g.members.includes(entry.name)).map((g) => g.gid) : [];
  const additionalGids = [...new Set([...memberOf, ...req.supplementalGroups])].filter((g) => g !== gid);
  return { uid, gid, additionalGids, ...(entry ? { username: entry.name } : {}) };
}
