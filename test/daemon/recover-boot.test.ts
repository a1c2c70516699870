import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import winston from 'winston';
import { BOOT_ID_FILE, recover } from '../../src/daemon/recover.js';
import { tempDir } from '../helpers/daemon.js';

/** recover() over fake services: when a boot counts as another, and the order of the steps. */
describe('daemon/recover: the boot id decides what counts as a restart of the host', () => {
  const cases: { name: string; recorded: string | undefined; current: string; rebooted: boolean }[] = [
    { name: 'a first start (no id recorded)', recorded: undefined, current: 'b1', rebooted: false },
    { name: 'an empty recorded id', recorded: '', current: 'b1', rebooted: false },
    { name: 'the same boot', recorded: 'b1\n', current: 'b1\n', rebooted: false },
    { name: 'another boot', recorded: 'b0\n', current: 'b1\n', rebooted: true },
  ];
  for (const c of cases) {
    it(`${c.name}: rebooted ${c.rebooted}, and this boot recorded after both services`, async () => {
      const dir = await tempDir();
      const bootIdPath = join(dir, 'kernel-boot-id');
      await writeFile(bootIdPath, c.current);
      if (c.recorded !== undefined) await writeFile(join(dir, BOOT_ID_FILE), c.recorded);
      const calls: string[] = [];
      const service = (name: string) => ({
        reconcile: async (o: { rebooted: boolean }): Promise<{ failed: number }> => {
          calls.push(`${name} rebooted=${o.rebooted} recorded=${(await readFile(join(dir, BOOT_ID_FILE), 'utf8').catch(() => '-')).trim()}`);
          return { failed: 0 };
        },
      });
      const r = await recover({ root: dir, bootIdPath, containers: service('containers'), sandboxes: service('sandboxes'), log: winston.createLogger({ silent: true }) });
      assert.equal(r.rebooted, c.rebooted);
      const before = c.recorded === undefined ? '-' : c.recorded.trim();
      assert.deepEqual(calls, [`containers rebooted=${c.rebooted} recorded=${before}`, `sandboxes rebooted=${c.rebooted} recorded=${before}`]);
      assert.equal((await readFile(join(dir, BOOT_ID_FILE), 'utf8')).trim(), c.current.trim());
    });
  }

  it('a recovery that fails records nothing: the next start recovers again', async () => {
    const dir = await tempDir();
    const bootIdPath = join(dir, 'kernel-boot-id');
    await writeFile(bootIdPath, 'b1');
    await writeFile(join(dir, BOOT_ID_FILE), 'b0');
    const failing = { reconcile: async (): Promise<{ failed: number }> => Promise.reject(new Error('disk gone')) };
    const fine = { reconcile: async (): Promise<{ failed: number }> => ({ failed: 0 }) };
    await assert.rejects(recover({ root: dir, bootIdPath, containers: fine, sandboxes: failing, log: winston.createLogger({ silent: true }) }), /disk gone/);
    assert.equal((await readFile(join(dir, BOOT_ID_FILE), 'utf8')).trim(), 'b0');
  });

  it('after a restart, a record that failed to reconcile keeps the old id (the next start ends what is left); on the same boot it does not matter', async () => {
    const dir = await tempDir();
    const bootIdPath = join(dir, 'kernel-boot-id');
    await writeFile(bootIdPath, 'b1');
    const oneFailed = { reconcile: async (): Promise<{ failed: number }> => ({ failed: 1 }) };
    const fine = { reconcile: async (): Promise<{ failed: number }> => ({ failed: 0 }) };
    const log = winston.createLogger({ silent: true });
    await writeFile(join(dir, BOOT_ID_FILE), 'b0');
    assert.deepEqual(await recover({ root: dir, bootIdPath, containers: oneFailed, sandboxes: fine, log }), { rebooted: true });
    assert.equal((await readFile(join(dir, BOOT_ID_FILE), 'utf8')).trim(), 'b0');
    await writeFile(join(dir, BOOT_ID_FILE), 'b1');
    assert.deepEqual(await recover({ root: dir, bootIdPath, containers: oneFailed, sandboxes: fine, log }), { rebooted: false });
    assert.equal((await readFile(join(dir, BOOT_ID_FILE), 'utf8')).trim(), 'b1');
  });
});
