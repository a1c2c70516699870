/**
 * bench/pods: the latency of a pod sandbox's life over CRI (RunPodSandbox, StopPodSandbox,
 * RemovePodSandbox, one pod after the other) in coracle and, when it is installed, in
 * containerd, through the very same CRI client.
 *
 * Usage: node dist/bench/pods.js [--pods 50]
 *
 * Each runtime gets a temp dir, a bridge and a /24 of its own and the same kind of pod
 * network: Debian's CNI plugins (/usr/lib/cni), bridge + host-local + portmap with ipMasq,
 * which is the conflist coracle embeds (containerd is given a copy with its own names). Both
 * are warmed up with 2 untimed rounds (which also check that a pod gets an address of its
 * subnet); then each RPC of N rounds is timed on its own. containerd runs its sandboxes as
 * pause containers: its sandbox image is a static busybox sleeping, served by a registry of
 * the bench's own and pulled before the timing. For the comparison: `apt-get install -y
 * containerd` (Debian's 1.6).
 *
 * Afterwards it checks that neither runtime leaked anything: mounts under its dir, veths on
 * its bridge, address leases, NAT rules for its subnet, pods still listed. Everything it
 * started is stopped, both bridges deleted and every temp dir removed, whatever happens
 * (Ctrl-C: the call in flight ends, then the teardown runs; a second one tears down at once).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultNetwork, DEFAULT_CONFLIST } from '../src/netns/cni-config.js';
import type { CriClients } from '../test/helpers/cri-client.js';
import { registryHostsToml } from '../test/helpers/daemon.js';
import { buildImage, buildLayer, busyboxRootfsEntries, pushImage, type LayerEntry } from '../test/helpers/images.js';
import { podConfig } from '../test/helpers/pods.js';
import { startTestRegistry } from '../test/helpers/test-registry.js';
import {
  Cleanups,
  containerdConfig,
  containerdTempDir,
  CRI_PLUGIN,
  mountsUnder,
  onPath,
  run,
  startContainerd,
  startCoracle,
  unmountAll,
} from './lib/containerd.js';

const CNI_BIN_DIR = '/usr/lib/cni';
const WARMUP_ROUNDS = 2;
const RPC_DEADLINE_MS = 60_000;
const PAUSE_REPO = 'bench/pause';
const PAUSE_TAG = '1';
const RPCS = ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox'] as const;
type Rpc = (typeof RPCS)[number];
type Timings = Record<Rpc, number[]>;

/** Set by the first SIGINT/SIGTERM: the bench stops at its next call and tears down. */
let interrupted: NodeJS.Signals | undefined;

class Interrupted extends Error {
  constructor(signal: NodeJS.Signals) {
    super(`interrupted (${signal})`);
  }
}

function checkInterrupted(): void {
  if (interrupted) throw new Interrupted(interrupted);
}

function options(): { pods: number } {
  const { values } = parseArgs({ options: { pods: { type: 'string', default: '50' } } });
  const n = Number(values.pods);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--pods: expected a positive integer, got "${values.pods}"`);
  return { pods: n };
}

/** The pod network of one runtime: its bridge and its /24. */
interface Net {
  bridge: string;
  subnet: string;
  /** "10.253.7.": what every address of the subnet starts with. */
  prefix: string;
}

/**
 * Bridge names and /24s that no link or address of the host has yet: crbench<n> with
 * 10.253.<n % 250>.0/24 for coracle, crbench<n>d with 10.254.<n % 250>.0/24 for containerd,
 * n from this process's pid.
 */
async function pickNetworks(): Promise<{ coracle: Net; containerd: Net }> {
  const links = new Set(
    (await run('ip', ['-o', 'link', 'show'])).stdout
      .split('\n')
      .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined),
  );
  const inUse = (await run('ip', ['-o', '-4', 'addr', 'show'])).stdout + (await run('ip', ['-4', 'route', 'show'])).stdout;
  for (let k = 0; k < 1000; k++) {
    const n = (process.pid + k) % 1000;
    const x = n % 250;
    const coracle = { bridge: `crbench${n}`, subnet: `10.253.${x}.0/24`, prefix: `10.253.${x}.` };
    const containerd = { bridge: `crbench${n}d`, subnet: `10.254.${x}.0/24`, prefix: `10.254.${x}.` };
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

/** The NAT rules that name an address of `net` (the bridge plugin's masquerade). */
async function natRulesOf(net: Net): Promise<string[]> {
  const { stdout } = await run('iptables', ['-w', '-t', 'nat', '-S']).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter((l) => l.includes(net.prefix));
}

/**
 * For a pod whose CNI DEL never ran: its masquerade rule in POSTROUTING and the chain that
 * rule jumps to go. Nothing to do when every pod was removed.
 */
async function removeNatRules(net: Net): Promise<void> {
  for (const line of await natRulesOf(net)) {
    const args = iptablesArgs(line);
    if (args[0] !== '-A' || args[1] !== 'POSTROUTING') continue;
    await run('iptables', ['-w', '-t', 'nat', '-D', ...args.slice(1)]);
    const chain = args[args.indexOf('-j') + 1];
    if (chain?.startsWith('CNI-') && !chain.startsWith('CNI-HOSTPORT')) {
      await run('iptables', ['-w', '-t', 'nat', '-F', chain]).catch(() => undefined);
      await run('iptables', ['-w', '-t', 'nat', '-X', chain]).catch(() => undefined);
    }
  }
}

/** Deletes the bridge of `net` (and, first, NAT rules a pod not torn down would have left). */
function addNetworkCleanup(cleanups: Cleanups, net: Net): void {
  cleanups.add(`delete bridge ${net.bridge}`, async () => {
    await removeNatRules(net);
    if (await linkExists(net.bridge)) await run('ip', ['link', 'del', net.bridge]);
  });
}

/** Stops and removes whatever pods a runtime still has (a run cut short). */
function addPodsCleanup(cleanups: Cleanups, name: string, clients: CriClients): void {
  cleanups.add(`remove the pods of ${name}`, async () => {
    const opts = { deadline: Date.now() + RPC_DEADLINE_MS };
    for (const pod of (await clients.runtime.ListPodSandbox({}, opts)).items) {
      await clients.runtime.StopPodSandbox({ pod_sandbox_id: pod.id }, opts);
      await clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod.id }, opts);
    }
  });
}

const ms = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e6;

/**
 * `rounds` pods, one after the other: Run, Stop, Remove, each timed on its own. With
 * `check`, each pod's status must show an address of `net` (untimed, between Run and Stop).
 */
async function podRounds(name: string, clients: CriClients, net: Net, rounds: number, check: boolean): Promise<Timings> {
  const t: Timings = { RunPodSandbox: [], StopPodSandbox: [], RemovePodSandbox: [] };
  const opts = (): { deadline: number } => ({ deadline: Date.now() + RPC_DEADLINE_MS });
  for (let i = 0; i < rounds; i++) {
    checkInterrupted();
    const config = podConfig(`bench-${name}-${i}`, { metadata: { name: `bench-${name}-${i}`, namespace: 'bench', uid: randomUUID(), attempt: 0 } });
    let start = process.hrtime.bigint();
    const { pod_sandbox_id: id } = await clients.runtime.RunPodSandbox({ config, runtime_handler: '' }, opts());
    t.RunPodSandbox.push(ms(start));
    if (check) {
      const ip = (await clients.runtime.PodSandboxStatus({ pod_sandbox_id: id, verbose: false }, opts())).status?.network?.ip ?? '';
      if (!ip.startsWith(net.prefix)) throw new Error(`${name}: pod ${id.slice(0, 12)} has address "${ip}", expected one of ${net.subnet}`);
    }
    checkInterrupted();
    start = process.hrtime.bigint();
    await clients.runtime.StopPodSandbox({ pod_sandbox_id: id }, opts());
    t.StopPodSandbox.push(ms(start));
    checkInterrupted();
    start = process.hrtime.bigint();
    await clients.runtime.RemovePodSandbox({ pod_sandbox_id: id }, opts());
    t.RemovePodSandbox.push(ms(start));
  }
  return t;
}

/** Nearest rank: the smallest value with at least p% of them at or below it. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

function printTimings(title: string, t: Timings): void {
  console.log(title);
  console.log(`  ${'RPC'.padEnd(18)}${'p50 ms'.padStart(9)}${'p95 ms'.padStart(9)}${'mean ms'.padStart(9)}`);
  for (const rpc of RPCS) {
    const xs = t[rpc];
    console.log(`  ${rpc.padEnd(18)}${percentile(xs, 50).toFixed(2).padStart(9)}${percentile(xs, 95).toFixed(2).padStart(9)}${mean(xs).toFixed(2).padStart(9)}`);
  }
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
interface NetworkFiles {
  /** host-local's dataDir. */
  ipamDir: string;
  /** The CNI results cached at ADD, dropped at DEL: those whose names start with `prefix`. */
  cacheDir: string;
  cachePrefix: string;
}

/** Prints what a runtime left after its pods were removed; returns whether it left nothing. */
async function leakCheck(name: string, clients: CriClients, dir: string, net: Net, files: NetworkFiles): Promise<boolean> {
  const mounts = await mountsUnder(dir);
  const veths = await run('ip', ['-o', 'link', 'show', 'master', net.bridge]).then(
    (r) => r.stdout.split('\n').filter(Boolean),
    () => [] as string[], // no bridge: no veth on it either
  );
  const leases = await leasesUnder(files.ipamDir);
  const cached = (await readdir(files.cacheDir).catch(() => [] as string[])).filter((f) => f.startsWith(files.cachePrefix));
  const nat = await natRulesOf(net);
  const pods = (await clients.runtime.ListPodSandbox({})).items;
  const problems = [
    ...mounts.map((m) => `mount ${m}`),
    ...veths.map((v) => `veth on ${net.bridge}: ${v.split('\\')[0]}`),
    ...leases.map((l) => `lease ${l}`),
    ...cached.map((c) => `cached CNI result ${join(files.cacheDir, c)}`),
    ...nat.map((r) => `NAT rule ${r}`),
    ...pods.map((p) => `pod ${p.id.slice(0, 12)} still listed (${p.state})`),
  ];
  const verdict = problems.length === 0 ? 'nothing left' : `LEAKED ${problems.length}:`;
  console.log(`leak check ${name}: mounts under its dir ${mounts.length}, veths on ${net.bridge} ${veths.length}, leases ${leases.length}, cached CNI results ${cached.length}, NAT rules for ${net.subnet} ${nat.length}, pods listed ${pods.length}: ${verdict}`);
  for (const p of problems) console.log(`  ${p}`);
  return problems.length === 0;
}

interface Result {
  timings: Timings;
  clean: boolean;
}

async function benchCoracle(cleanups: Cleanups, net: Net, pods: number): Promise<Result> {
  const dir = await mkdtemp(join(tmpdir(), 'coracle-bench-pods-'));
  cleanups.add(`remove ${dir}`, async () => {
    await unmountAll(dir);
    await rm(dir, { recursive: true, force: true });
  });
  addNetworkCleanup(cleanups, net);
  const root = join(dir, 'root');
  const socket = join(dir, 'run', 'coracle.sock');
  const config = join(dir, 'coracle.toml');
  await writeFile(
    config,
    [
      `root = ${JSON.stringify(root)}`,
      `state = ${JSON.stringify(join(dir, 'state'))}`,
      '[grpc]',
      `socket = ${JSON.stringify(socket)}`,
      '[log]',
      'level = "warn"',
      // A conf dir of its own: coracle writes its embedded conflist there at start.
      '[cni]',
      `conf_dir = ${JSON.stringify(join(dir, 'cni', 'net.d'))}`,
      `bin_dirs = [${JSON.stringify(CNI_BIN_DIR)}]`,
      `bridge = ${JSON.stringify(net.bridge)}`,
      `pod_subnet = ${JSON.stringify(net.subnet)}`,
      // No registry is needed: docker.io goes to a closed port, whatever happens.
      registryHostsToml(),
    ].join('\n') + '\n',
  );
  const clients = await startCoracle(cleanups, config, socket, { detached: true });
  addPodsCleanup(cleanups, 'coracle', clients);
  checkInterrupted();
  await podRounds('coracle', clients, net, WARMUP_ROUNDS, true);
  const timings = await podRounds('coracle', clients, net, pods, false);
  const version = await clients.runtime.Version({});
  printTimings(`coracle ${version.runtime_version} (${pods} pods, after ${WARMUP_ROUNDS} warm-up rounds):`, timings);
  // As src/daemon/compose.ts lays them out.
  const clean = await leakCheck('coracle', clients, dir, net, { ipamDir: join(root, 'cni', 'networks'), cacheDir: join(root, 'cni', 'results'), cachePrefix: '' });
  return { timings, clean };
}

/**
 * The sandbox image: a static busybox that sleeps (containerd SIGKILLs it at stop). Its
 * applets are symlinks here, not the helper's hardlinks: containerd applies a hardlink's
 * header mode (0644) to the inode it shares with /bin/busybox, which could then not run.
 */
async function pushPauseImage(registry: { url: string }): Promise<void> {
  const entries = (await busyboxRootfsEntries()).map((e): LayerEntry => (e.type === 'hardlink' ? { type: 'symlink', path: e.path, target: 'busybox' } : e));
  const layer = await buildLayer(entries);
  const image = buildImage({ layers: [layer], config: { Cmd: ['/bin/sleep', '2147483647'] } });
  await pushImage(registry.url, PAUSE_REPO, image, [PAUSE_TAG]);
}

async function benchContainerd(cleanups: Cleanups, net: Net, pods: number): Promise<Result> {
  const registry = await startTestRegistry({ scope: 'suite' });
  cleanups.add('stop registry', () => registry.stop());
  await pushPauseImage(registry);
  const pause = `${registry.host}/${PAUSE_REPO}:${PAUSE_TAG}`;

  const dir = await containerdTempDir(cleanups, 'coracle-bench-pods-containerd-');
  addNetworkCleanup(cleanups, net);
  const confDir = join(dir, 'cni', 'net.d');
  const ipamDir = join(dir, 'cni', 'networks');
  await mkdir(confDir, { recursive: true });
  // The same conflist as coracle's embedded one, with this runtime's names and lease dir.
  const network = defaultNetwork({ name: net.bridge, bridge: net.bridge, subnet: net.subnet, ipamDir });
  await writeFile(join(confDir, DEFAULT_CONFLIST), JSON.stringify(network, null, 2) + '\n');
  const config = containerdConfig(dir, {
    registryHost: registry.host,
    cniBinDir: CNI_BIN_DIR,
    cniConfDir: confDir,
    criKeys: [
      `sandbox_image = ${JSON.stringify(pause)}`,
      // Netns pins under its state dir (and runc's state under its dir, below): found at cleanup.
      'netns_mounts_under_state_dir = true',
      // The pause container asks for oom_score_adj -998, which needs CAP_SYS_RESOURCE: where
      // the bench runs without it (a sandbox VM), runc fails unless this clamps it to ours.
      'restrict_oom_score_adj = true',
    ],
    extra: [
      `[${CRI_PLUGIN}.containerd.runtimes.runc]`,
      '  runtime_type = "io.containerd.runc.v2"',
      '',
      `[${CRI_PLUGIN}.containerd.runtimes.runc.options]`,
      `  Root = ${JSON.stringify(join(dir, 'runc'))}`,
      '',
    ].join('\n'),
  });
  // Teardown, newest first: its pods removed, containerd stopped, its bridge deleted, then
  // (containerdTempDir) whatever containers, shims and mounts it still left, and the dir.
  const { clients } = await startContainerd(cleanups, dir, config, { detached: true });
  addPodsCleanup(cleanups, 'containerd', clients);
  checkInterrupted();
  const pulled = await clients.image.PullImage({ image: { image: pause } }, { deadline: Date.now() + RPC_DEADLINE_MS });
  if (!pulled.image_ref) throw new Error(`containerd: PullImage ${pause} returned no image`);
  await podRounds('containerd', clients, net, WARMUP_ROUNDS, true);
  const timings = await podRounds('containerd', clients, net, pods, false);
  const version = await clients.runtime.Version({});
  printTimings(`${version.runtime_name} ${version.runtime_version} (${pods} pods, after ${WARMUP_ROUNDS} warm-up rounds):`, timings);
  // libcni's cache is host-wide: this network's entries are those named after it (its bridge).
  const clean = await leakCheck('containerd', clients, dir, net, { ipamDir, cacheDir: '/var/lib/cni/results', cachePrefix: `${net.bridge}-` });
  return { timings, clean };
}

async function main(): Promise<void> {
  let opts: { pods: number };
  try {
    opts = options();
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\nusage: node dist/bench/pods.js [--pods 50]`);
    process.exitCode = 2;
    return;
  }
  const cleanups = new Cleanups();
  // One teardown, whoever asks first: a second signal must not run it again alongside.
  let teardown: Promise<string[]> | undefined;
  const tearDown = (): Promise<string[]> =>
    (teardown ??= cleanups.runAll().then((failures) => {
      for (const f of failures) console.error(`cleanup: ${f}`);
      return failures;
    }));
  let failed = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!interrupted) {
      interrupted = signal;
      console.error(`${signal}: stopping after the call in flight, then cleaning up (again to clean up at once)`);
      return;
    }
    if (!teardown) console.error(`${signal}: cleaning up now`);
    void tearDown().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const nets = await pickNetworks();
    const coracle = await benchCoracle(cleanups, nets.coracle, opts.pods);
    let clean = coracle.clean;
    if (await onPath('containerd')) {
      const containerd = await benchContainerd(cleanups, nets.containerd, opts.pods);
      clean &&= containerd.clean;
      const ratios = RPCS.map((rpc) => `${rpc} ${(percentile(containerd.timings[rpc], 50) / percentile(coracle.timings[rpc], 50)).toFixed(2)}`);
      console.log(`containerd/coracle p50: ${ratios.join(', ')}`);
    } else {
      console.log('containerd: not on PATH, no comparison (to compare: apt-get install -y containerd)');
    }
    if (!clean) throw new Error('a runtime leaked (see the leak checks above)');
  } catch (err) {
    failed = true;
    if (err instanceof Interrupted) console.error(err.message);
    else console.error(err);
  } finally {
    if ((await tearDown()).length > 0) failed = true;
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.exitCode = interrupted ? 130 : failed ? 1 : 0;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
