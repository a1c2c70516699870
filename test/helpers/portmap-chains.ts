import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The CNI portmap plugin's chains in the nat table. portmap makes them, and the built-in
 * chains' jumps to them, at the first ADD on a host and never removes them (containerd and
 * CRI-O leave them too: they are the host's from then on). The suite's hostPort pods would
 * leave them on a machine that had none, so the root hooks note whether they were there at
 * the start and remove them at the end if the suite made them and no pod of anyone's uses
 * them any more.
 */
const CHAINS = ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK'];
const JUMPS_FROM = ['PREROUTING', 'OUTPUT', 'POSTROUTING'];

const nat = async (args: string[]): Promise<string> => (await run('iptables', ['-w', '5', '-t', 'nat', ...args])).stdout;

/** Whether any of portmap's chains is in the nat table, given its rules as `iptables -S` prints them. */
const anyChainIn = (rules: string[]): boolean => CHAINS.some((c) => rules.includes(`-N ${c}`));

/** Whether any of portmap's chains is in the nat table. */
export async function portmapChainsPresent(): Promise<boolean> {
  return anyChainIn((await nat(['-S'])).split('\n'));
}

/**
 * Removes portmap's chains and the jumps to them, unless a pod's DNAT chain is still jumped
 * to from CNI-HOSTPORT-DNAT (a hostPort pod of another run or runtime): then nothing.
 * Returns whether it removed them.
 */
export async function removeIdlePortmapChains(): Promise<boolean> {
  // One read of the table: which chains are there, and whether a pod's DNAT is jumped to (a
  // table with some of the chains and not CNI-HOSTPORT-DNAT has none).
  const rules = (await nat(['-S'])).split('\n');
  if (!anyChainIn(rules) || rules.some((l) => l.startsWith('-A CNI-HOSTPORT-DNAT '))) return false;
  for (const from of JUMPS_FROM) {
    // Highest rule number first, so that the numbers of the ones left do not move.
    const numbers = (await nat(['-L', from, '-n', '--line-numbers']))
      .split('\n')
      .map((l) => /^(\d+)\s+(\S+)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null && CHAINS.includes(m[2]!))
      .map((m) => Number(m[1]))
      .sort((a, b) => b - a);
    for (const n of numbers) await nat(['-D', from, String(n)]);
  }
  for (const c of CHAINS) await nat(['-F', c]).catch(() => '');
  for (const c of CHAINS) await nat(['-X', c]).catch(() => '');
  return !(await portmapChainsPresent());
}
