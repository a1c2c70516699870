import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { probeCni } from '../../src/netns/cni-probe.js';
import { tempDir } from '../helpers/daemon.js';

async function dirs(): Promise<{ conf: string; bin: string }> {
  const dir = await tempDir();
  const conf = join(dir, 'net.d');
  const bin = join(dir, 'bin');
  await mkdir(conf);
  await mkdir(bin);
  return { conf, bin };
}

async function plugin(bin: string, name: string, mode = 0o755): Promise<void> {
  await writeFile(join(bin, name), '#!/bin/sh\nexit 0\n', { mode });
}

const conflist = (name: string, types: string[]): string =>
  JSON.stringify({ cniVersion: '1.0.0', name, plugins: types.map((type) => ({ type })) });

describe('netns/cni-probe', () => {
  it('is not ready when the conf dir is missing', async () => {
    const r = await probeCni('/nonexistent/coracle/net.d', ['/nonexistent']);
    assert.equal(r.ready, false);
    assert.equal(r.message, 'no usable CNI network config in /nonexistent/coracle/net.d');
  });

  it('is not ready when the conf dir is empty', async () => {
    const { conf, bin } = await dirs();
    const r = await probeCni(conf, [bin]);
    assert.equal(r.ready, false);
    assert.equal(r.message, `no usable CNI network config in ${conf}`);
  });

  it('names the plugins whose binaries are missing, then turns ready when they appear', async () => {
    const { conf, bin } = await dirs();
    await writeFile(join(conf, '10-net.conflist'), conflist('podnet', ['bridge', 'portmap', 'loopback']));
    await plugin(bin, 'bridge');
    await plugin(bin, 'loopback', 0o644); // not executable: does not count
    let r = await probeCni(conf, [bin]);
    assert.equal(r.ready, false);
    assert.match(r.message, /CNI network podnet \(.*10-net\.conflist\): plugin portmap, loopback not found/);
    await plugin(bin, 'portmap');
    await chmod(join(bin, 'loopback'), 0o755);
    r = await probeCni(conf, [bin]);
    assert.equal(r.ready, true, r.message);
    assert.equal(r.network, 'podnet');
    assert.equal(r.cniVersion, '1.0.0');
    assert.deepEqual(r.plugins.map((p) => p.type), ['bridge', 'portmap', 'loopback']);
  });

  it('looks for plugins through every bin dir in order', async () => {
    const { conf, bin } = await dirs();
    const other = join(await tempDir(), 'bin2');
    await mkdir(other);
    await plugin(other, 'bridge');
    await writeFile(join(conf, 'a.conflist'), conflist('n', ['bridge']));
    const r = await probeCni(conf, [bin, other]);
    assert.equal(r.ready, true);
    assert.equal(r.plugins[0]!.path, join(other, 'bridge'));
  });

  it('uses the first usable file by name and lists the ones it skipped', async () => {
    const { conf, bin } = await dirs();
    await plugin(bin, 'bridge');
    await plugin(bin, 'ptp');
    await writeFile(join(conf, '00-broken.conflist'), '{ not json');
    await writeFile(join(conf, '05-empty.conflist'), JSON.stringify({ name: 'x', plugins: [] }));
    await writeFile(join(conf, '07-readme.txt'), 'ignored: not a CNI extension');
    execFileSync('mkfifo', [join(conf, '08-fifo.conf')]);
    await writeFile(join(conf, '10-single.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'single', type: 'ptp' }));
    await writeFile(join(conf, '20-later.conflist'), conflist('later', ['bridge']));
    const r = await probeCni(conf, [bin]);
    assert.equal(r.ready, true);
    assert.equal(r.network, 'single');
    assert.deepEqual(
      r.skipped.map((s) => [s.file.split('/').pop(), s.reason.split(':')[0]]),
      [
        ['00-broken.conflist', 'not JSON'],
        ['05-empty.conflist', 'no plugins'],
        ['08-fifo.conf', 'not a regular file'],
      ],
    );
  });
});
