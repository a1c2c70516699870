import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { llistxattr, lgetxattr } from '../../src/util/fs-syscalls.js';

/**
 * A decoy tree outside what a test unpacks, for hostile layers to aim their symlinks at,
 * and a snapshot of everything about it (kind, content, mode, owner, times, link count,
 * inode, xattrs), to prove afterwards that nothing there was made, changed or touched.
 */
export function makeDecoy(dir: string): void {
  mkdirSync(join(dir, 'etc', 'cron.d'), { recursive: true });
  mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(dir, 'file'), 'decoy file\n');
  writeFileSync(join(dir, 'keep'), 'keep me\n');
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0::/:/bin/sh\n');
  writeFileSync(join(dir, 'sub', 'deeper', 'f'), 'deep\n');
  symlinkSync('../file', join(dir, 'sub', 'up'));
  chmodSync(join(dir, 'file'), 0o644);
  const old = new Date('2001-01-01T00:00:00Z');
  for (const p of ['file', 'keep', 'etc/passwd', 'sub/deeper/f', 'sub/deeper', 'sub', 'etc/cron.d', 'etc', '.']) utimesSync(join(dir, p), old, old);
}

/** path → description, for every entry under `root` and `root` itself. */
export function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    const abs = rel ? join(root, rel) : root;
    const st = lstatSync(abs, { bigint: true });
    const xattrs = llistxattr(abs)
      .sort()
      .map((x) => `${x}=${lgetxattr(abs, x).toString('hex')}`)
      .join(',');
    let kind = `mode=${st.mode.toString(8)}`;
    if (st.isSymbolicLink()) kind += ` -> ${readlinkSync(abs)}`;
    else if (st.isFile()) kind += ` sha=${createHash('sha256').update(readFileSync(abs)).digest('hex').slice(0, 16)}`;
    out.set(rel || '.', `${kind} ${st.uid}:${st.gid} ino=${st.ino} nlink=${st.nlink} size=${st.size} mtime=${st.mtimeNs} ctime=${st.ctimeNs} ${xattrs}`);
    if (st.isDirectory()) for (const name of readdirSync(abs).sort()) walk(rel ? `${rel}/${name}` : name);
  };
  walk('');
  return out;
}

/** The differences between two snapshots, as lines; empty when equal. */
export function diff(before: Map<string, string>, after: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const [p, v] of before) if (after.get(p) !== v) lines.push(`${p}: ${v} => ${after.get(p) ?? 'gone'}`);
  for (const [p, v] of after) if (!before.has(p)) lines.push(`${p}: new: ${v}`);
  return lines;
}

/**
 * Non-directory inodes under `root` whose link count is more than their names under it: a
 * hardlink to something outside. Empty when every link stays inside.
 */
export function linksOut(root: string): string[] {
  const count = new Map<bigint, { path: string; nlink: bigint; seen: number }>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(rel ? join(root, rel) : root)) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, path), { bigint: true });
      if (st.isDirectory()) walk(path);
      else {
        const c = count.get(st.ino) ?? { path, nlink: st.nlink, seen: 0 };
        c.seen++;
        count.set(st.ino, c);
      }
    }
  };
  walk('');
  return [...count.values()].filter((c) => BigInt(c.seen) !== c.nlink).map((c) => `${c.path}: ${c.seen} names here, ${c.nlink} links`);
}
