import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HostLocalIpam } from '../../src/netns/host-local-ipam.js';
import { tempDir } from '../helpers/daemon.js';

const id = (n: number): string => n.toString(16).padStart(64, '0');
const leases = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n)).sort();

/** The real host-local plugin on the same dir: ADD for `cid`, its address. */
async function hostLocalAdd(dataDir: string, subnet: string, cid: string): Promise<string> {
  const conf = { cniVersion: '1.0.0', name: 'net', type: 'bridge', ipam: { type: 'host-local', ranges: [[{ subnet }]], dataDir } };
  return new Promise((resolve, reject) => {
    const child = execFile('/usr/lib/cni/host-local', [], { env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: cid, CNI_NETNS: '/nonexistent', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' } }, (err, stdout) => {
      if (err) reject(new Error(`host-local: ${stdout}`));
      else resolve((JSON.parse(stdout) as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!);
    });
    child.stdin!.end(JSON.stringify(conf));
  });
}

describe('netns: host-local IPAM in process', () => {
  it('hands out the subnet but the gateway, wraps after the last one handed out, and says when it is full', async () => {
    const data = await tempDir();
    const ipam = new HostLocalIpam(join(data, 'net'), { address: '10.9.9.0', prefix: 29 });
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push((await ipam.allocate(id(i), 'eth0')).address);
    assert.deepEqual(got, ['10.9.9.2', '10.9.9.3', '10.9.9.4', '10.9.9.5', '10.9.9.6']);
    await assert.rejects(ipam.allocate(id(9), 'eth0'), (err: Error & { code?: string }) => err.code === 'RESOURCE_EXHAUSTED' && /no free address/.test(err.message));
    await ipam.release(id(1), 'eth0', '10.9.9.3');
    await ipam.release(id(3), 'eth0'); // no hint: every lease is read
    assert.deepEqual(await leases(join(data, 'net')), ['10.9.9.2', '10.9.9.4', '10.9.9.6']);
    // After .6 (the last handed out) comes .3: the search wraps, skipping the gateway (.1) and what is held.
    assert.equal((await ipam.allocate(id(10), 'eth0')).address, '10.9.9.3');
    assert.deepEqual(await ipam.allocate(id(11), 'eth0'), { address: '10.9.9.5', prefix: 29, gateway: '10.9.9.1' });
  });

  it('releases only what names the container (and host-local\'s older id-only leases), and sweeps a killed writer\'s temp lease', async () => {
    const data = await tempDir();
    const dir = join(data, 'net');
    const ipam = new HostLocalIpam(dir, { address: '10.9.8.0', prefix: 24 });
    await ipam.allocate(id(1), 'eth0');
    await writeFile(join(dir, '10.9.8.50'), id(2)); // an older host-local's lease
    await writeFile(join(dir, '10.9.8.51'), `${id(2)}\r\neth1`); // another interface of it
    await writeFile(join(dir, '.coracle-lease-999999'), `${id(3)}\r\neth0`); // a writer killed before its link
    await ipam.release(id(2), 'eth0');
    assert.deepEqual(await leases(dir), ['10.9.8.2', '10.9.8.51']);
    await ipam.release(id(1), 'eth0', '10.9.8.51'); // a hint that names another's lease: left
    assert.deepEqual(await leases(dir), ['10.9.8.2', '10.9.8.51']);
    // A restarted daemon: its first allocation sweeps.
    await new HostLocalIpam(dir, { address: '10.9.8.0', prefix: 24 }).allocate(id(4), 'eth0');
    assert.ok(!(await readdir(dir)).some((n) => n.startsWith('.coracle-lease-')), 'temp leases swept');
  });

  it('allocations at once, in process and with the real host-local in another process, never share an address', async () => {
    const data = await tempDir();
    const ipam = new HostLocalIpam(join(data, 'net'), { address: '10.9.7.0', prefix: 26 });
    const ours = Array.from({ length: 24 }, (_, i) => ipam.allocate(id(i), 'eth0').then((l) => l.address));
    const theirs = Array.from({ length: 6 }, (_, i) => hostLocalAdd(data, '10.9.7.0/26', id(100 + i)));
    const all = await Promise.all([...ours, ...theirs]);
    assert.equal(new Set(all).size, all.length, `distinct: ${all.join(' ')}`);
    const files = await leases(join(data, 'net'));
    assert.equal(files.length, 30);
    for (const [i, ip] of (await Promise.all(ours)).entries()) assert.equal(await readFile(join(data, 'net', ip), 'utf8'), `${id(i)}\r\neth0`);
  });
});
