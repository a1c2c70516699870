import assert from 'node:assert/strict';
import { link, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { upperDirTar } from '../../src/container/layer-diff.js';
import { readTar } from '../../src/image/tar-reader.js';
import { lsetxattr, mknod, S_IFCHR, S_IFIFO } from '../../src/util/fs-syscalls.js';
import { tempDir } from '../helpers/daemon.js';
import { deepTree, openFds } from '../helpers/deep-tree.js';

/** name → "type [linkname] [content]" of a tar stream. */
async function entries(tar: AsyncIterable<Buffer>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const { header, body } of readTar(tar)) {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c);
    out[header.name.replace(/\/$/, '')] = [header.type, header.linkname, Buffer.concat(chunks).toString()].filter(Boolean).join(' ');
  }
  return out;
}

describe('container/layer-diff', () => {
  it('turns an upper dir into a layer without following its links or blocking on its FIFOs', async () => {
    const upper = join(await tempDir(), 'upper');
    await mkdir(join(upper, 'etc/opaque'), { recursive: true });
    await writeFile(join(upper, 'etc/file'), 'mine\n');
    await link(join(upper, 'etc/file'), join(upper, 'etc/hard'));
    await symlink('/etc/passwd', join(upper, 'etc/passwd'));
    await symlink('/etc', join(upper, 'hostetc'));
    mknod(join(upper, 'etc/fifo'), S_IFIFO | 0o600);
    mknod(join(upper, 'etc/gone'), S_IFCHR, 0, 0);
    mknod(join(upper, 'etc/null'), S_IFCHR | 0o666, 1, 3);
    lsetxattr(join(upper, 'etc/opaque'), 'trusted.overlay.opaque', Buffer.from('y'));
    assert.deepEqual(await entries(upperDirTar(upper)), {
      etc: 'dir',
      'etc/.wh.gone': 'file',
      'etc/fifo': 'fifo',
      'etc/file': 'file mine\n',
      'etc/hard': 'hardlink etc/file',
      'etc/null': 'char',
      'etc/opaque': 'dir',
      'etc/opaque/.wh..wh..opq': 'file',
      'etc/passwd': 'symlink /etc/passwd',
      hostetc: 'symlink /etc',
    });
  });

  it('a commit of a 1000-deep tree is refused, naming the path, with no fd left open', async () => {
    const upper = await tempDir();
    deepTree(upper, 1000);
    const before = openFds();
    const tar = upperDirTar(upper);
    await assert.rejects(
      (async () => {
        for await (const _ of tar) void _;
      })(),
      (err: Error & { code?: string }) => {
        assert.match(err.message, new RegExp(`^upper dir: "${Array.from({ length: 257 }, () => 'd').join('/')}": deeper than 256 directory levels$`));
        return true;
      },
    );
    assert.equal(openFds(), before);
  });
});
