import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureMasquerade, masqueradeChain, removeMasquerade } from '../../src/netns/masquerade.js';
import { onCleanup } from '../helpers/cleanup.js';
import { testNetwork } from '../helpers/daemon.js';

const run = promisify(execFile);
const nat = async (): Promise<string[]> => (await run('iptables', ['-w', '-t', 'nat', '-S'])).stdout.split('\n');

describe('netns: the embedded network\'s masquerade', () => {
  it('is one chain for the subnet, made once however often asked (each rule checked first), replaced when the subnet changes, removed with the network', async () => {
    // Rules only, no link: a name and subnets of this test's own.
    const { bridge, subnet } = testNetwork();
    const other = subnet.replace(/^10\.(\d+)\./, (_m, o: string) => `10.${Number(o) - 100}.`);
    onCleanup(`remove masquerade of ${bridge}`, () => removeMasquerade(bridge));
    const chain = masqueradeChain(bridge);
    const ours = async (): Promise<string[]> => (await nat()).filter((l) => l.includes(chain));
    /** The chain for `s` and the rule that sends the subnet's traffic to it, as `iptables -S` lists them. */
    const rulesFor = (s: string): string[] => [
      `-N ${chain}`,
      `-A POSTROUTING -s ${s} -m comment --comment "coracle masquerade ${bridge}" -j ${chain}`,
      `-A ${chain} -d ${s} -j ACCEPT`,
      `-A ${chain} ! -d 224.0.0.0/4 -j MASQUERADE`,
    ];
    // A daemon's first pod, then a restarted daemon's.
    await ensureMasquerade(bridge, subnet);
    await ensureMasquerade(bridge, subnet);
    assert.deepEqual(await ours(), rulesFor(subnet));
    await ensureMasquerade(bridge, other);
    assert.deepEqual(await ours(), rulesFor(other));
    await removeMasquerade(bridge);
    await removeMasquerade(bridge);
    assert.deepEqual(await ours(), []);
  });
});
