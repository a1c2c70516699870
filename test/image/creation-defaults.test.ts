import assert from 'node:assert/strict';
import { closeSync, openSync, constants } from 'node:fs';
import { chmod, chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CreationDefaults, creatorIds, type CreatorIds } from '../../src/image/creation-defaults.js';
import { DEFAULT_ACL_XATTR, setDefaultAcl } from '../helpers/acl.js';
import { tempDir } from '../helpers/daemon.js';

const IDS: CreatorIds = { euid: 0, egid: 0, umask: 0o022 };

async function withDir<T>(prepare: (dir: string) => Promise<void>, run: (fd: number) => T): Promise<T> {
  const dir = join(await tempDir(), 'd');
  await mkdir(dir);
  await prepare(dir);
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    return run(fd);
  } finally {
    closeSync(fd);
  }
}

describe('image/creation-defaults: what a new file gets from the kernel by itself', () => {
  const modes: { name: string; umask: number; mode: number; want: { mode: number; exact: boolean } }[] = [
    { name: '0644 under umask 022: asked as it is', umask: 0o022, mode: 0o100644, want: { mode: 0o644, exact: true } },
    { name: '0755 under umask 022', umask: 0o022, mode: 0o755, want: { mode: 0o755, exact: true } },
    { name: '0666 under umask 022: the umask would take bits, set after', umask: 0o022, mode: 0o666, want: { mode: 0o600, exact: false } },
    { name: '0666 under umask 0', umask: 0, mode: 0o666, want: { mode: 0o666, exact: true } },
    { name: 'setuid: set after', umask: 0, mode: 0o4755, want: { mode: 0o600, exact: false } },
    { name: 'sticky: set after', umask: 0, mode: 0o1644, want: { mode: 0o600, exact: false } },
    { name: 'no bits at all', umask: 0o077, mode: 0, want: { mode: 0, exact: true } },
  ];
  for (const t of modes) {
    it(`openMode: ${t.name}`, async () => {
      const got = await withDir(async () => undefined, (fd) => new CreationDefaults(fd, { ...IDS, umask: t.umask }).openMode(t.mode));
      assert.deepEqual(got, t.want);
    });
  }

  it('openMode: a default ACL on the root, or one an entry sets, decides modes: every mode is set after', async () => {
    assert.deepEqual(await withDir(async (d) => setDefaultAcl(d), (fd) => new CreationDefaults(fd, IDS).openMode(0o644)), { mode: 0o600, exact: false });
    const later = await withDir(async () => undefined, (fd) => {
      const d = new CreationDefaults(fd, IDS);
      const before = d.openMode(0o644);
      d.xattrSet('user.other');
      const still = d.openMode(0o644);
      d.xattrSet(DEFAULT_ACL_XATTR);
      return [before.exact, still.exact, d.openMode(0o644).exact];
    });
    assert.deepEqual(later, [true, true, false]);
  });

  it("owns: the creator's own uid and gid, or the directory's gid in a setgid one, unknown in another's; learnt again once changed", async () => {
    const got = await withDir(
      async (dir) => {
        await chown(dir, 0, 50);
        await chmod(dir, 0o2775);
      },
      (fd) => {
        const d = new CreationDefaults(fd, IDS);
        return [d.owns('', fd, 0, 50), d.owns('', fd, 0, 0), d.owns('', fd, 7, 50)];
      },
    );
    assert.deepEqual(got, [true, false, false]);
    // Not setgid, another group: a grpid mount would give it, another mount the egid. Unknown: chowned.
    const otherGroup = await withDir(
      (dir) => chown(dir, 0, 50),
      (fd) => {
        const d = new CreationDefaults(fd, IDS);
        return [d.owns('', fd, 0, 0), d.owns('', fd, 0, 50)];
      },
    );
    assert.deepEqual(otherGroup, [false, false]);
    // Learnt once: a directory made setgid afterwards counts only once told.
    const dir = join(await tempDir(), 'later');
    await mkdir(dir);
    const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      const d = new CreationDefaults(fd, IDS);
      const before = d.owns('later', fd, 0, 0);
      await chown(dir, 0, 50);
      await chmod(dir, 0o2755);
      const cached = d.owns('later', fd, 0, 0);
      d.dirsChanged();
      assert.deepEqual([before, cached, d.owns('later', fd, 0, 0), d.owns('later', fd, 0, 50)], [true, true, false, true]);
    } finally {
      closeSync(fd);
    }
  });

  it("creatorIds: this process's ids and umask", () => {
    const ids = creatorIds();
    assert.deepEqual([ids.euid, ids.egid], [process.geteuid!(), process.getegid!()]);
    const umask = process.umask(0o022);
    process.umask(umask);
    assert.equal(ids.umask, umask);
  });
});
