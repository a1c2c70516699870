/**
 * bench/lib/network: the pod networks of the benches that run pods (bench/pods,
 * bench/lifecycle). Each runtime gets a bridge and a /24 of its own, deleted at cleanup with
 * whatever NAT rules its pods left; and the leak check's look at what a runtime left of its
 * pods' networks.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { defaultNetwork, DEFAULT_CONFLIST } from '../../src/netns/cni-config.js';
import { masqueradeChain } from '../../src/netns/masquerade.js';
import { type Cleanups, mountsUnder, run } from './host.js';

/** The pod network of one runtime: its bridge and its /24. */
export interface Net {
  bridge: string;
  subnet: string;
  /** "10.253.7.": what every address of the subnet starts with. */
  prefix: string;
}

/** What a bench's networks are named after: names and subnets of its own, so that benches may run at once. */
export interface NetworkNames {
  /** The bridges are `${bridgePrefix}<n>` (coracle) and `${bridgePrefix}<n>d` (containerd). */
  bridgePrefix: string;
  /** The second octets of the /24s: 10.<coracle>.<n % 250>.0/24 and 10.<containerd>.<n % 250>.0/24. */
  coracleOctet: number;
  containerdOctet: number;
}

/**
 * Bridge names and /24s that no link or address of the host has yet, as `names` lays them
 * out, n from this process's pid.
 */
export async function pickNetworks(names: NetworkNames): Promise<{ coracle: Net; containerd: Net }> {
  const links = new Set(
    (await run('ip', ['-o', 'link', 'show'])).stdout
      .split('\n')
      .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined),
  );
  const inUse = (await run('ip', ['-o', '-4', 'addr', 'show'])).stdout + (await run('ip', ['-4', 'route', 'show'])).stdout;
  const net = (bridge: string, octet: number, x: number): Net => ({ bridge, subnet: `10.${octet}.${x}.0/24`, prefix: `10.${octet}.${x}.` });
  for (let k = 0; k < 1000; k++) {
    const n = (process.pid + k) % 1000;
    const x = n % 250;
    const coracle = net(`${names.bridgePrefix}${n}`, names.coracleOctet, x);
    const containerd = net(`${names.bridgePrefix}${n}d`, names.containerdOctet, x);
    if ([coracle, containerd].some((net) => links.has(net.bridge) || inUse.includes(net.prefix))) continue;
    return { coracle, containerd };
  }
  throw new Error('no free bridge name and subnet for the bench');
}

async function linkExists(name: string): Promise<boolean> {
  return run('ip', ['-o', 'link', 'show', 'dev', name]).then(
    () => true,
    () => false,
  );
}

/** Splits a line of `iptables -S` into its arguments (quoted comments with \" inside). */
function iptablesArgs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let any = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted && c === '\\' && i + 1 < line.length) {
      cur += line[++i];
    } else if (c === '"') {
      quoted = !quoted;
      any = true;
    } else if (c === ' ' && !quoted) {
      if (any || cur) out.push(cur);
      cur = '';
      any = false;
    } else {
      cur += c;
    }
  }
  if (any || cur) out.push(cur);
  return out;
}

/**
 * The NAT rules that name an address of `net`: the bridge plugin's masquerade of a pod, and,
 * with `network`, also the embedded network's one masquerade for the whole subnet, which is
 * the network's and stays until its bridge is deleted (src/netns/masquerade.ts).
 */
async function natRulesOf(net: Net, network = false): Promise<string[]> {
  const { stdout } = await run('iptables', ['-w', '-t', 'nat', '-S']).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter((l) => l.includes(net.prefix) && (network || !l.includes(`-j ${masqueradeChain(net.bridge)}`) && !l.includes(`-A ${masqueradeChain(net.bridge)} `)));
}

/**
 * For a pod whose CNI DEL never ran: its masquerade rule in POSTROUTING and the chain that
 * rule jumps to go; and the embedded network's masquerade, which goes with the bridge.
 */
async function removeNatRules(net: Net): Promise<void> {
  for (const line of await natRulesOf(net, true)) {
    const args = iptablesArgs(line);
    if (args[0] !== '-A' || args[1] !== 'POSTROUTING') continue;
    await run('iptables', ['-w', '-t', 'nat', '-D', ...args.slice(1)]);
    const chain = args[args.indexOf('-j') + 1];
    if ((chain?.startsWith('CNI-') && !chain.startsWith('CNI-HOSTPORT')) || chain === masqueradeChain(net.bridge)) {
      await run('iptables', ['-w', '-t', 'nat', '-F', chain]).catch(() => undefined);
      await run('iptables', ['-w', '-t', 'nat', '-X', chain]).catch(() => undefined);
    }
  }
}

/** Deletes the bridge of `net` (and, first, NAT rules a pod not torn down would have left). */
export function addNetworkCleanup(cleanups: Cleanups, net: Net): void {
  cleanups.add(`delete bridge ${net.bridge}`, async () => {
    await removeNatRules(net);
    if (await linkExists(net.bridge)) await run('ip', ['link', 'del', net.bridge]);
  });
}

/**
 * containerd's pod network: the same conflist as coracle's embedded one, with `net`'s names
 * and a lease dir under `dir`, in a conf dir of its own.
 */
export async function writeContainerdConflist(dir: string, net: Net): Promise<{ confDir: string; ipamDir: string }> {
  const confDir = join(dir, 'cni', 'net.d');
  const ipamDir = join(dir, 'cni', 'networks');
  await mkdir(confDir, { recursive: true });
  const network = defaultNetwork({ name: net.bridge, bridge: net.bridge, subnet: net.subnet, ipamDir });
  await writeFile(join(confDir, DEFAULT_CONFLIST), JSON.stringify(network, null, 2) + '\n');
  return { confDir, ipamDir };
}

/** Files named by an address under `dir`: host-local's leases. */
async function leasesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await leasesUnder(path)));
    else if (isIP(e.name)) out.push(path);
  }
  return out;
}

/** Where a runtime keeps the files of its pods' networks. */
export interface NetworkFiles {
  /** host-local's dataDir. */
  ipamDir: string;
  /** The CNI results cached at ADD, dropped at DEL: those whose names start with `cachePrefix`. */
  cacheDir: string;
  cachePrefix: string;
}

/**
 * What a runtime left of its pods' networks, and mounts under its `dir`: the counts, for the
 * leak check's line, and a line for each thing left.
 */
export async function networkLeftovers(dir: string, net: Net, files: NetworkFiles): Promise<{ counts: string; problems: string[] }> {
  const mounts = await mountsUnder(dir);
  const veths = await run('ip', ['-o', 'link', 'show', 'master', net.bridge]).then(
    (r) => r.stdout.split('\n').filter(Boolean),
    () => [] as string[], // no bridge: no veth on it either
  );
  const leases = await leasesUnder(files.ipamDir);
  const cached = (await readdir(files.cacheDir).catch(() => [] as string[])).filter((f) => f.startsWith(files.cachePrefix));
  const nat = await natRulesOf(net);
  return {
    counts: `mounts under its dir ${mounts.length}, veths on ${net.bridge} ${veths.length}, leases ${leases.length}, cached CNI results ${cached.length}, NAT rules for ${net.subnet} ${nat.length}`,
    problems: [
      ...mounts.map((m) => `mount ${m}`),
      ...veths.map((v) => `veth on ${net.bridge}: ${v.split('\\')[0]}`),
      ...leases.map((l) => `lease ${l}`),
      ...cached.map((c) => `cached CNI result ${join(files.cacheDir, c)}`),
      ...nat.map((r) => `NAT rule ${r}`),
    ],
  };
}

/** Prints the leak check of runtime `name`: its counts, then each thing it left; returns whether it left nothing. */
export function reportLeaks(name: string, counts: string, problems: string[]): boolean {
  const verdict = problems.length === 0 ? 'nothing left' : `LEAKED ${problems.length}:`;
  console.log(`leak check ${name}: ${counts}: ${verdict}`);
  for (const p of problems) console.log(`  ${p}`);
  return problems.length === 0;
}
