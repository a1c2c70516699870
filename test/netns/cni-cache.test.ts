import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CniRunner, type CniAttachment } from '../../src/netns/cni.js';
import { LOOPBACK } from '../../src/netns/cni-config.js';
import { tempDir } from '../helpers/daemon.js';

/**
 * The CNI result cache is written atomically but not fsynced: after a power loss the file
 * may be there and empty. DEL must still run (as without a cache) and drop it, and the
 * "is it attached" check must still see it, or the pod's address would never be released.
 */
describe('netns/cni cache', () => {
  /** A bin dir whose `loopback` records each call's command and stdin, then runs Debian's. */
  async function wrappedLoopback(): Promise<{ bin: string; calls: string; cache: string; netns: string }> {
    const dir = await tempDir();
    const bin = join(dir, 'bin');
    const cache = join(dir, 'results');
    await mkdir(bin);
    await mkdir(cache);
    const calls = join(dir, 'calls');
    await writeFile(
      join(bin, 'loopback'),
      `#!/bin/sh\nin=$(cat)\nprintf '%s %s\\n' "$CNI_COMMAND" "$in" >> ${calls}\nprintf '%s' "$in" | exec /usr/lib/cni/loopback\n`,
      { mode: 0o755 },
    );
    // The pod's netns after a reboot: gone (loopback's DEL takes a missing one as done).
    return { bin, calls, cache, netns: join(dir, 'no-such-netns') };
  }

  const attachment = (netns: string): CniAttachment => ({ containerId: randomBytes(32).toString('hex'), netns, ifName: 'lo', args: [], capabilities: {} });

  it('runs DEL for a cache file a power loss left empty, without a prevResult, and removes it', async () => {
    const { bin, calls, cache, netns } = await wrappedLoopback();
    const runner = new CniRunner([bin], cache);
    const a = attachment(netns);
    const file = join(cache, `${a.containerId}-lo.json`);
    await writeFile(file, '');
    assert.equal(await runner.isCached(a), true, 'an empty cache file still means DEL is due');
    assert.equal(await runner.cached(a), undefined, 'an empty cache file has no result');
    await runner.del(LOOPBACK, a);
    const lines = (await readFile(calls, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 1, `one plugin call, got ${JSON.stringify(lines)}`);
    assert.match(lines[0]!, /^DEL \{/);
    const stdin = JSON.parse(lines[0]!.slice('DEL '.length)) as Record<string, unknown>;
    assert.equal(stdin.type, 'loopback');
    assert.equal(stdin.prevResult, undefined, 'no prevResult from a torn cache');
    await assert.rejects(access(file), { code: 'ENOENT' });
    assert.equal(await runner.isCached(a), false);
  });

  it('sees no cache where there is no file, and a whole one as it was written', async () => {
    const { bin, cache, netns } = await wrappedLoopback();
    const runner = new CniRunner([bin], cache);
    const a = attachment(netns);
    assert.equal(await runner.isCached(a), false);
    assert.equal(await runner.cached(a), undefined);
    const entry = { network: LOOPBACK, attachment: a, result: { cniVersion: '1.0.0', interfaces: [{ name: 'lo' }] } };
    await writeFile(join(cache, `${a.containerId}-lo.json`), JSON.stringify(entry));
    assert.equal(await runner.isCached(a), true);
    assert.deepEqual(await runner.cached(a), entry);
  });
});
