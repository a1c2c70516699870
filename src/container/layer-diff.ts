import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';

type Headers = Parameters<ReturnType<typeof pack>['entry']>[0];
import { isErrno } from '../errors.js';
import { lgetxattr } from '../util/fs-syscalls.js';

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** overlayfs marks a directory that hides the lower ones with this xattr. */
function isOpaque(path: string): boolean {
  try {
    return lgetxattr(path, 'trusted.overlay.opaque').toString() === 'y';
  } catch {
    return false;
  }
}

/**
 * A container's changes as an OCI layer: its overlay upper dir as an uncompressed tar, with
 * overlayfs' whiteouts (0/0 character devices) turned back into `.wh.` files and opaque
 * directories into `.wh..wh..opq` (the reverse of what unpacking did). Hard links within
 * the layer stay links. Extended attributes are not carried (not yet).
 */
export function upperDirTar(upper: string): AsyncIterable<Buffer> {
  const tar = pack();
  const seen = new Map<string, string>();
  const add = (h: Headers, path?: string): Promise<void> =>
    new Promise((resolve, reject) => {
      if (path === undefined) {
        // A file entry (a whiteout) waits for its bytes: it gets none, explicitly.
        if (h.type === 'file') tar.entry(h, Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
        else tar.entry(h, (err) => (err ? reject(err) : resolve()));
        return;
      }
      const entry = tar.entry(h, (err) => (err ? reject(err) : resolve()));
      pipeline(createReadStream(path), entry).catch(reject);
    });
  const walk = async (dir: string, rel: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    for (const name of names) {
      const path = join(dir, name);
      const at = rel ? `${rel}/${name}` : name;
      const st = await lstat(path);
      const base = { name: at, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
      const kind = st.mode & S_IFMT;
      if (kind === S_IFCHR && st.rdev === 0) {
        await add({ ...base, name: rel ? `${rel}/.wh.${name}` : `.wh.${name}`, type: 'file', size: 0 });
      } else if (st.isDirectory()) {
        await add({ ...base, type: 'directory' });
        if (isOpaque(path)) await add({ ...base, name: `${at}/.wh..wh..opq`, type: 'file', size: 0 });
        await walk(path, at);
      } else if (st.isSymbolicLink()) {
        await add({ ...base, type: 'symlink', linkname: await readlink(path) });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? seen.get(key) : undefined;
        if (first !== undefined) await add({ ...base, type: 'link', linkname: first });
        else {
          if (st.nlink > 1) seen.set(key, at);
          await add({ ...base, type: 'file', size: st.size }, path);
        }
      } else if (kind === S_IFCHR || kind === S_IFBLK) {
        await add({ ...base, type: kind === S_IFCHR ? 'character-device' : 'block-device', devmajor: Math.floor(st.rdev / 256) & 0xfff, devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) });
      } else if (kind === S_IFIFO) {
        await add({ ...base, type: 'fifo' });
      }
      // Sockets are not carried in layers.
    }
  };
  walk(upper, '').then(
    () => tar.finalize(),
    (err: unknown) => tar.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  return (async function* () {
    for await (const chunk of tar) yield chunk as Buffer;
  })();
}
