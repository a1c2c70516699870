import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeMasquerade } from '../../src/netns/masquerade.js';
import { removeCgroupTree } from './cgroups.js';
import { onCleanup } from './cleanup.js';
import { criClients, type CriClients } from './cri-client.js';
import { CLI_NAMESPACE } from '../../src/cli/cli-namespace.js';

export const CORACLE_BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

const running = new Set<ChildProcess>();

/** Synchronous, for process exit: SIGKILL whatever daemon the suite still has. */
export function killAllDaemons(): void {
  for (const proc of running) proc.kill('SIGKILL');
}

/** A fresh dir under the OS temp dir, removed after the test. */
export async function tempDir(prefix = 'coracle-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onCleanup(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A bridge name and a /24 of this test run's own, for daemons that make pod networks. */
const runOctet = 200 + Math.floor(Math.random() * 50);
let networks = 0;
export function testNetwork(): { bridge: string; subnet: string; octets: string } {
  const n = networks++ % 250;
  return { bridge: `crt${process.pid % 10000}n${n}`, subnet: `10.${runOctet}.${n}.0/24`, octets: `10.${runOctet}.${n}.` };
}

export interface DaemonPaths {
  dir: string;
  root: string;
  state: string;
  socket: string;
  configPath: string;
  cniConfDir: string;
  cniBinDir: string;
  /** Set when the daemon has a real pod network (opts.network). */
  bridge?: string;
  subnet?: string;
}

/**
 * Registry hosts for a test's daemon. Docker Hub is always mapped to a closed loopback port
 * with no fallback, so that a test can never reach (or even look up) a host off this machine.
 */
export function registryHostsToml(mirrors: Record<string, string | string[]> = {}): string {
  const all = { 'docker.io': 'http://127.0.0.1:1', ...mirrors };
  return Object.entries(all)
    .map(([host, urls]) => `[registry.hosts.${JSON.stringify(host)}]\nmirrors = ${JSON.stringify([urls].flat())}\nplain_http = true\nno_fallback = true`)
    .join('\n');
}

/**
 * A config for a test: every path under `dir`, an empty CNI conf dir and plugin dir of the
 * test's own (so the host's CNI setup never leaks in), registry hosts from `mirrors` (host →
 * loopback URL, see registryHostsToml), plus `extra` TOML appended.
 */
export interface TestConfigOptions {
  extra?: string;
  mirrors?: Record<string, string | string[]>;
  /** A real pod network: Debian's CNI plugins, a bridge and a subnet of the test's own. */
  network?: boolean;
  /**
   * With `network`: CRI pods use the cluster's conf dir (empty until the test writes one), as
   * on a kubelet node; the bridge is Coracle's own network, which the CLI's pods use.
   */
  clusterNetwork?: boolean;
}

export async function writeTestConfig(dir: string, opts: TestConfigOptions = {}): Promise<DaemonPaths> {
  const paths: DaemonPaths = {
    dir,
    root: join(dir, 'root'),
    state: join(dir, 'state'),
    socket: join(dir, 'run', 'coracle.sock'),
    configPath: join(dir, 'coracle.toml'),
    cniConfDir: join(dir, 'cni', 'net.d'),
    cniBinDir: join(dir, 'cni', 'bin'),
  };
  const cni = [`conf_dir = ${JSON.stringify(paths.cniConfDir)}`];
  if (opts.network) {
    const net = testNetwork();
    paths.bridge = net.bridge;
    paths.subnet = net.subnet;
    // The test's own bin dir first: a test wraps a plugin there to make it fail on cue.
    // CRI pods on Coracle's own network: the test makes no cluster network.
    cni.push(`bin_dirs = [${JSON.stringify(paths.cniBinDir)}, "/usr/lib/cni"]`, `bridge = "${net.bridge}"`, `pod_subnet = "${net.subnet}"`, `pod_network = "${opts.clusterNetwork ? '' : 'coracle'}"`);
  } else {
    cni.push(`bin_dirs = [${JSON.stringify(paths.cniBinDir)}]`);
  }
  const toml = [
    `root = ${JSON.stringify(paths.root)}`,
    `state = ${JSON.stringify(paths.state)}`,
    '[grpc]',
    `socket = ${JSON.stringify(paths.socket)}`,
    '[log]',
    'level = "debug"',
    '[cni]',
    ...cni,
    registryHostsToml(opts.mirrors),
    opts.extra ?? '',
  ].join('\n');
  await mkdir(paths.cniBinDir, { recursive: true });
  await writeFile(paths.configPath, toml + '\n');
  return paths;
}

export interface DaemonProcess {
  proc: ChildProcess;
  /** stderr lines so far: the daemon's JSON log. */
  lines: string[];
  /** Resolves with the exit once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `coracle ARGS` as a child, tracked for cleanup, with its stderr collected. */
export function spawnCoracle(args: string[]): DaemonProcess {
  const proc = spawn(process.execPath, [CORACLE_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  const lines: string[] = [];
  let partial = '';
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    if (process.env.CORACLE_TEST_LOGS) process.stderr.write(parts.map((l) => `  | ${l}\n`).join(''));
  });
  proc.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      running.delete(proc);
      if (partial) lines.push(partial);
      resolve({ code, signal });
    });
  });
  onCleanup(`kill coracle pid ${proc.pid}`, async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  return { proc, lines, exited };
}

export interface TestDaemon extends DaemonPaths, DaemonProcess {
  clients: CriClients;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Waits for the daemon's 'coracle serving' line; rejects with its log if it exits first. */
export async function waitServing(d: DaemonProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (d.lines.some((l) => l.includes('"coracle serving"'))) return;
    if (d.proc.exitCode !== null || d.proc.signalCode !== null || Date.now() > deadline) {
      throw new Error(`coracle did not start (exit ${d.proc.exitCode}):\n${d.lines.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Starts a daemon on a temp root and socket of its own, ready to call. It is killed and its
 * dirs removed after the test, whether the test passed or not. With `network`, the pods it
 * made are removed through a daemon first (one is started again if the test killed it, so
 * that its reconciliation runs), then the test's bridge is deleted.
 */
export async function startTestDaemon(opts: TestConfigOptions & { paths?: DaemonPaths } = {}): Promise<TestDaemon> {
  const paths = opts.paths ?? (await writeTestConfig(await tempDir(), opts));
  // Pods with no cgroup parent (the CLI's) go under /coracle, which runc makes and never
  // removes: once the daemon's pods are gone (the step below runs first), its empty dirs go
  // too; one still in use stays.
  if (!opts.paths) onCleanup('remove the empty /coracle cgroups', () => removeCgroupTree('/coracle'));
  if (paths.bridge && !opts.paths) onCleanup(`remove the pods and bridge of ${paths.dir}`, () => removeAllPods(paths));
  const d = spawnCoracle(['--config', paths.configPath, 'serve']);
  await waitServing(d);
  const clients = criClients(paths.socket);
  onCleanup('close clients', () => clients.close());
  return {
    ...paths,
    ...d,
    clients,
    async stop() {
      d.proc.kill('SIGTERM');
      return d.exited;
    },
  };
}

async function removeAllPods(paths: DaemonPaths): Promise<void> {
  const d = spawnCoracle(['--config', paths.configPath, 'serve']);
  try {
    await waitServing(d);
    // Each namespace sees only its own pods: kubelet's (no header) and the CLI's.
    for (const namespace of [undefined, CLI_NAMESPACE]) {
      const c = criClients(paths.socket, namespace);
      try {
        for (const pod of (await c.runtime.ListPodSandbox({})).items) await c.runtime.RemovePodSandbox({ pod_sandbox_id: pod.id });
      } finally {
        c.close();
      }
    }
  } finally {
    d.proc.kill('SIGTERM');
    await d.exited;
    await new Promise<void>((resolve) => {
      const ip = spawn('ip', ['link', 'del', paths.bridge!], { stdio: 'ignore' });
      ip.on('close', () => resolve());
    });
    // The embedded network's masquerade goes with its bridge.
    await removeMasquerade(paths.bridge!);
  }
}
