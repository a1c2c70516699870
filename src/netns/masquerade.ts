import { createHash } from 'node:crypto';
import { CoracleError, messageOf } from '../errors.js';
import { failureOf, runToEnd } from '../util/vfork-spawn.js';

/**
 * The embedded network's masquerade: traffic from the pod subnet to anywhere but the subnet
 * and multicast leaves with the host's address. One chain per network, jumped to by one
 * POSTROUTING rule for the whole subnet, instead of the bridge plugin's chain per pod:
 *   -t nat -A POSTROUTING -s SUBNET -m comment --comment "coracle masquerade BRIDGE" -j CORACLE-MASQ-<hash>
 *   -t nat -A CORACLE-MASQ-<hash> -d SUBNET -j ACCEPT
 *   -t nat -A CORACLE-MASQ-<hash> ! -d 224.0.0.0/4 -j MASQUERADE
 * Installed at a daemon's first pod on the network, each rule checked first, so that it is
 * idempotent across restarts and daemons; a subnet changed in the config replaces the old
 * rules. The rules stay when the daemon stops (its pods outlive it) and belong to the
 * network: whoever deletes the bridge removes them with removeMasquerade (the tests and
 * benches do at cleanup).
 */
export function masqueradeChain(bridge: string): string {
  // 13 + 12 = 25 characters: under iptables' 28.
  return `CORACLE-MASQ-${createHash('sha256').update(bridge).digest('hex').slice(0, 12).toUpperCase()}`;
}

async function iptables(args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const r = await runToEnd('iptables', ['-w', '5', '-t', 'nat', ...args], { timeoutMs: 30_000, maxBuffer: 8 << 20 }).catch((err: unknown) => {
    throw new CoracleError('FAILED_PRECONDITION', `iptables ${args.join(' ')}: ${messageOf(err)}`, { cause: err });
  });
  // Killed (its time, its output) is no answer of iptables: an error, not a "no".
  if (r.killed || r.signal) throw new CoracleError('FAILED_PRECONDITION', `iptables ${args.join(' ')}: ${failureOf('iptables', r) ?? ''}`);
  return { ok: r.code === 0, stdout: r.stdout, stderr: r.stderr };
}

async function must(args: string[]): Promise<void> {
  const r = await iptables(args);
  if (!r.ok) throw new CoracleError('INTERNAL', `masquerade: iptables -t nat ${args.join(' ')}: ${r.stderr.trim()}`);
}

/** Deletes the network's POSTROUTING jumps to `chain` whose source is not `keep`. */
async function dropJumps(bridge: string, chain: string, keep?: string): Promise<void> {
  for (const line of (await iptables(['-S', 'POSTROUTING'])).stdout.split('\n')) {
    const source = line.endsWith(` -j ${chain}`) ? / -s (\S+) /.exec(line)?.[1] : undefined;
    if (source && source !== keep) await must(['-D', 'POSTROUTING', '-s', source, '-m', 'comment', '--comment', `coracle masquerade ${bridge}`, '-j', chain]);
  }
}

/** Makes the network's masquerade rules as above, leaving those already there. */
export async function ensureMasquerade(bridge: string, subnet: string): Promise<void> {
  const chain = masqueradeChain(bridge);
  const comment = `coracle masquerade ${bridge}`;
  const wanted = [`-A ${chain} -d ${subnet} -j ACCEPT`, `-A ${chain} ! -d 224.0.0.0/4 -j MASQUERADE`];
  const listed = await iptables(['-S', chain]);
  if (!listed.ok) {
    const made = await iptables(['-N', chain]);
    if (!made.ok && !/already exists/i.test(made.stderr)) throw new CoracleError('INTERNAL', `masquerade: iptables -t nat -N ${chain}: ${made.stderr.trim()}`);
  }
  const rules = listed.ok ? listed.stdout.split('\n').filter((l) => l.startsWith('-A ')) : [];
  if (rules.join('\n') !== wanted.join('\n')) {
    await must(['-F', chain]);
    await must(['-A', chain, '-d', subnet, '-j', 'ACCEPT']);
    await must(['-A', chain, '!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE']);
  }
  const jump = ['POSTROUTING', '-s', subnet, '-m', 'comment', '--comment', comment, '-j', chain];
  // Jumps with another source: left by a config whose subnet has changed since.
  await dropJumps(bridge, chain, subnet);
  if (!(await iptables(['-C', ...jump])).ok) await must(['-A', ...jump]);
}

/** Removes the network's masquerade rules, for whoever deletes its bridge; none is no error. */
export async function removeMasquerade(bridge: string): Promise<void> {
  const chain = masqueradeChain(bridge);
  await dropJumps(bridge, chain);
  if ((await iptables(['-S', chain])).ok) {
    await must(['-F', chain]);
    await must(['-X', chain]);
  }
}
