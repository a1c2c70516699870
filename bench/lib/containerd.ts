/**
 * bench/lib/containerd: what the benches that put coracle next to containerd share. Teardown
 * steps, child processes, mounts, and each runtime started on a temp dir of its own and
 * answering CRI, with whatever it may leave behind removed at cleanup.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { access, mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { criClients, type CriClients } from '../../test/helpers/cri-client.js';
import { registryHostsToml } from '../../test/helpers/daemon.js';

export const run = promisify(execFile);
export const CORACLE_BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
export const START_TIMEOUT_MS = 30_000;
export const CRI_PLUGIN = 'plugins."io.containerd.grpc.v1.cri"';
/** Where containerd's libcni caches the result of each CNI ADD, whatever its config says. */
const LIBCNI_CACHE = '/var/lib/cni/results';

/** Teardown steps, undone newest first; each runs even when an earlier one fails. */
export class Cleanups {
  private readonly steps: { what: string; run: () => Promise<unknown> }[] = [];
  add(what: string, step: () => Promise<unknown>): void {
    this.steps.push({ what, run: step });
  }
  async runAll(): Promise<string[]> {
    const failures: string[] = [];
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.run();
      } catch (err) {
        failures.push(`${step.what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return failures;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves when the process has exited; SIGTERM first, SIGKILL after `graceMs`. */
export async function stopProcess(proc: ChildProcess, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Keeps the last bytes of a child's output, to show when it fails. */
export function tail(proc: ChildProcess, limit = 8192): () => string {
  let log = '';
  const keep = (c: Buffer): void => {
    log = (log + c.toString('utf8')).slice(-limit);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return () => log;
}

/**
 * Whether `name` is an executable on PATH. BENCH_WITHOUT=containerd (a comma-separated list)
 * has the benches take it as absent: coracle's figures alone, for a quick look while working.
 */
export async function onPath(name: string): Promise<boolean> {
  if ((process.env.BENCH_WITHOUT ?? '').split(',').includes(name)) return false;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      await access(join(dir, name), fsConstants.X_OK);
      return true;
    } catch {
      // next one
    }
  }
  return false;
}

/** Mount points under `dir`, deepest first, so that each can be unmounted before its parent. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mp): mp is string => mp !== undefined)
    .map((mp) => mp.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((mp) => mp.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

export async function unmountAll(dir: string): Promise<void> {
  for (const mp of await mountsUnder(dir)) {
    // A mount still busy (a process left in it) is detached instead, so that the dir can go.
    await run('umount', [mp]).catch(() => run('umount', ['-l', mp]));
  }
}

/**
 * Starts coracle with `config` and waits for its "coracle serving" line. Its log level is
 * info on the command line only for that line to show up. `detached`: in a process group of
 * its own, so that the Ctrl-C of a terminal reaches the bench only, which then tears down.
 */
export async function startCoracle(cleanups: Cleanups, config: string, socket: string, opts: { detached?: boolean } = {}): Promise<CriClients> {
  return (await startCoracleDaemon(cleanups, config, socket, opts)).clients;
}

/** startCoracle, which also gives the daemon's process (for its pid). */
export async function startCoracleDaemon(
  cleanups: Cleanups,
  config: string,
  socket: string,
  opts: { detached?: boolean } = {},
): Promise<{ proc: ChildProcess; clients: CriClients }> {
  const proc = spawn(process.execPath, [CORACLE_BIN, '--config', config, 'serve', '--log-level', 'info'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: opts.detached ?? false,
  });
  cleanups.add('stop coracle', () => stopProcess(proc, 10_000));
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`coracle did not serve within ${START_TIMEOUT_MS / 1000} s:\n${log}`)), START_TIMEOUT_MS);
    // The listener stays: it keeps the pipe drained for as long as the daemon logs.
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => {
      log = (log + c).slice(-8192);
      if (log.includes('"coracle serving"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`coracle exited:\n${log}`));
    });
  });
  const clients = criClients(socket);
  cleanups.add('close coracle client', async () => clients.close());
  return { proc, clients };
}

export interface CoracleConfigOptions {
  /** The CNI plugin dirs. */
  cniBinDirs: string[];
  /** The pod network's bridge and subnet; without it, coracle's own. */
  net?: { bridge: string; subnet: string };
  /** Registries over plain http, host → URL (docker.io goes to a closed port, whatever happens). */
  registries?: Record<string, string>;
}

/**
 * Writes coracle's config, dir/coracle.toml: every path under `dir`, its log at warn, a CNI
 * conf dir of its own (coracle writes its embedded conflist there at start).
 */
export async function coracleConfig(dir: string, o: CoracleConfigOptions): Promise<{ config: string; root: string; socket: string }> {
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
      '[cni]',
      `conf_dir = ${JSON.stringify(join(dir, 'cni', 'net.d'))}`,
      `bin_dirs = [${o.cniBinDirs.map((d) => JSON.stringify(d)).join(', ')}]`,
      ...(o.net ? [`bridge = ${JSON.stringify(o.net.bridge)}`, `pod_subnet = ${JSON.stringify(o.net.subnet)}`, 'pod_network = "coracle"'] : []),
      registryHostsToml(o.registries),
    ].join('\n') + '\n',
  );
  return { config, root, socket };
}

export interface ContainerdConfigOptions {
  /** A registry on loopback that the CRI plugin reaches over plain http. */
  registryHost: string;
  /** Default: empty dirs under the temp dir, for a containerd that makes no pod network. */
  cniBinDir?: string;
  cniConfDir?: string;
  /** Lines of the CRI plugin's own table (sandbox_image, ...). */
  criKeys?: string[];
  /** More tables, appended as they are. */
  extra?: string;
}

/** A containerd whose every path (root, state, socket, opt) is under `dir`. */
export function containerdConfig(dir: string, o: ContainerdConfigOptions): string {
  const cri = CRI_PLUGIN;
  const criTable = o.criKeys && o.criKeys.length > 0 ? `[${cri}]\n${o.criKeys.map((l) => `  ${l}\n`).join('')}\n` : '';
  return `version = 2
root = ${JSON.stringify(join(dir, 'root'))}
state = ${JSON.stringify(join(dir, 'state'))}
disabled_plugins = []

[grpc]
  address = ${JSON.stringify(join(dir, 'containerd.sock'))}

[debug]
  level = "warn"

[plugins."io.containerd.internal.v1.opt"]
  path = ${JSON.stringify(join(dir, 'opt'))}

${criTable}[${cri}.containerd]
  snapshotter = "overlayfs"

[${cri}.cni]
  bin_dir = ${JSON.stringify(o.cniBinDir ?? join(dir, 'cni', 'bin'))}
  conf_dir = ${JSON.stringify(o.cniConfDir ?? join(dir, 'cni', 'net.d'))}

[${cri}.registry.mirrors.${JSON.stringify(o.registryHost)}]
  endpoint = [${JSON.stringify(`http://${o.registryHost}`)}]
${o.extra ? `\n${o.extra}` : ''}`;
}

/**
 * containerd for the benches that run pods: `pause` as its sandbox image, the pod network of
 * `cniConfDir` (plugins in `cniBinDir`), runc's state under `runcRoot`.
 */
export function podsContainerdConfig(dir: string, o: { registryHost: string; cniBinDir: string; cniConfDir: string; pause: string; runcRoot: string }): string {
  return containerdConfig(dir, {
    registryHost: o.registryHost,
    cniBinDir: o.cniBinDir,
    cniConfDir: o.cniConfDir,
    criKeys: [
      `sandbox_image = ${JSON.stringify(o.pause)}`,
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
      `  Root = ${JSON.stringify(o.runcRoot)}`,
      '',
    ].join('\n'),
  });
}

/**
 * A temp dir for containerd. At cleanup, whatever a containerd stopped with pods still up
 * left is taken down before the dir goes: libcni's cached results of its pods, containers in
 * the runc roots under `<dir>/runc`, shims still serving (found by the containerd socket in
 * their command line) and their sockets, then the mounts (shim rootfs, sandbox shm, netns
 * pins), lazily if still busy; then the host dirs it made (newHostDirs).
 */
export async function containerdTempDir(cleanups: Cleanups, prefix: string): Promise<string> {
  const hostDirs = await newHostDirs();
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.add(`remove ${dir}`, async () => {
    await removeContainerdLeftovers(dir);
    await unmountAll(dir);
    await rm(dir, { recursive: true, force: true });
    await hostDirs();
    await shimZombiesReaped(5000);
  });
  return dir;
}

/**
 * Waits (at most `ms`) until no exited shim waits to be reaped. A shim is a child of init
 * from its start, so the one of the last pod, gone after containerd, is reaped by init a
 * moment later: until then it shows up as "[containerd-shim] <defunct>". Only waits.
 */
function shimZombiesReaped(ms: number): Promise<void> {
  return zombiesReaped(/ \(containerd-shim[^)]*\) Z /, ms);
}

/** Waits (at most `ms`) until no process whose /proc/PID/stat matches `stat` (a zombie of a name) is left. */
async function zombiesReaped(stat: RegExp, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  const zombie = async (pid: string): Promise<boolean> => stat.test(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''));
  while (Date.now() < deadline) {
    let any = false;
    for (const name of await readdir('/proc')) if (/^\d+$/.test(name) && (await zombie(name))) any = true;
    if (!any) return;
    await sleep(100);
  }
}

/**
 * The dirs outside its config's paths that containerd 1.6 makes once it runs pods: the shims'
 * socket dir, libcni's result cache, the parent cgroup of its containers. Returns a function
 * that removes those that are not there now, if empty: another runtime's are left alone.
 */
async function newHostDirs(): Promise<() => Promise<void>> {
  const controllers = await readdir('/sys/fs/cgroup').catch(() => [] as string[]);
  const candidates = [
    '/run/containerd/s',
    '/run/containerd',
    LIBCNI_CACHE,
    '/var/lib/cni',
    '/sys/fs/cgroup/k8s.io',
    ...controllers.map((c) => `/sys/fs/cgroup/${c}/k8s.io`),
  ];
  const absent: string[] = [];
  for (const d of candidates) if (!(await exists(d))) absent.push(d);
  return async () => {
    // Children before parents, as listed; rmdir fails on a dir that is not empty.
    for (const d of absent) await rmdir(d).catch(() => undefined);
  };
}

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** Pids of the shims serving the containerd of `dir`. */
export async function shimsOf(dir: string): Promise<number[]> {
  const socket = join(dir, 'containerd.sock');
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (!argv[0]?.includes('containerd-shim')) continue;
    const at = argv.indexOf('-address');
    if (at >= 0 && argv[at + 1] === socket) out.push(Number(name));
  }
  return out;
}

/** Ids of the pod sandboxes the containerd of `dir` has a record or a task of. */
async function sandboxIdsOf(dir: string): Promise<Set<string>> {
  const ids = new Set(await readdir(join(dir, 'root', 'io.containerd.grpc.v1.cri', 'sandboxes')).catch(() => [] as string[]));
  for (const id of await readdir(join(dir, 'state', 'io.containerd.runtime.v2.task', 'k8s.io')).catch(() => [] as string[])) ids.add(id);
  return ids;
}

async function removeContainerdLeftovers(dir: string): Promise<void> {
  // libcni's results of the pods whose CNI DEL never ran (files <network>-<id>-<ifname>).
  const ids = await sandboxIdsOf(dir);
  for (const name of await readdir(LIBCNI_CACHE).catch(() => [] as string[])) {
    if ([...ids].some((id) => name.includes(`-${id}-`))) await rm(join(LIBCNI_CACHE, name), { force: true });
  }
  // Containers first: runc kills and deletes them (the shim of a container is its reaper).
  for (const ns of await readdir(join(dir, 'runc')).catch(() => [] as string[])) {
    const root = join(dir, 'runc', ns);
    const ids = (await run('runc', ['--root', root, 'list', '-q']).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
    for (const id of ids) await run('runc', ['--root', root, 'delete', '--force', id]).catch(() => undefined);
  }
  // The shims' sockets are under containerd 1.6's fixed /run/containerd/s: their address files say where.
  const sockets: string[] = [];
  const tasks = join(dir, 'state', 'io.containerd.runtime.v2.task');
  for (const ns of await readdir(tasks).catch(() => [] as string[])) {
    for (const id of await readdir(join(tasks, ns)).catch(() => [] as string[])) {
      const address = (await readFile(join(tasks, ns, id, 'address'), 'utf8').catch(() => '')).trim();
      if (address.startsWith('unix://')) sockets.push(address.slice('unix://'.length));
    }
  }
  const shims = await shimsOf(dir);
  for (const pid of shims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  for (let i = 0; i < 50 && (await shimsOf(dir)).length > 0; i++) await sleep(100);
  for (const s of sockets) await rm(s, { force: true });
}

export interface Containerd {
  proc: ChildProcess;
  clients: CriClients;
  /** The last of its output. */
  log: () => string;
}

/**
 * Writes `config` to `<dir>/config.toml`, starts containerd with it and waits until CRI
 * answers. `detached`: as for startCoracle.
 */
export async function startContainerd(cleanups: Cleanups, dir: string, config: string, opts: { detached?: boolean } = {}): Promise<Containerd> {
  await mkdir(join(dir, 'tmp'));
  const configPath = join(dir, 'config.toml');
  await writeFile(configPath, config);
  // TMPDIR: the temp mounts its appliers may make land under `dir`, where cleanup finds them.
  const proc = spawn('containerd', ['--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TMPDIR: join(dir, 'tmp') },
    detached: opts.detached ?? false,
  });
  const log = tail(proc);
  cleanups.add('stop containerd', () => stopProcess(proc, 15_000));
  const clients = criClients(join(dir, 'containerd.sock'));
  cleanups.add('close containerd client', async () => clients.close());
  // The socket comes before the CRI plugin is ready: wait for an answer, not for the file.
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`containerd exited:\n${log()}`);
    try {
      await clients.runtime.Version({}, { deadline: Date.now() + 1000 });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`containerd did not answer CRI within ${START_TIMEOUT_MS / 1000} s (${String(err)}):\n${log()}`, { cause: err });
      await sleep(100);
    }
  }
  return { proc, clients, log };
}

/** Pids of the processes whose program is `name` (argv[0], or its last path part) and whose argv satisfies `match`. */
export async function processesNamed(name: string, match: (argv: string[]) => boolean): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv.at(-1) === '') argv.pop();
    const prog = argv[0] ?? '';
    if ((prog === name || prog.endsWith(`/${name}`)) && match(argv)) out.push(Number(entry));
  }
  return out;
}

/** Pids of the conmons of the coracle whose every path is under `dir` (their bundle, log and exit paths are). */
export function conmonsOf(dir: string): Promise<number[]> {
  return processesNamed('conmon', (argv) => argv.some((a) => a.includes(`${dir}/`)));
}

/**
 * A temp dir for coracle (its root and state under it). At cleanup, whatever a coracle
 * stopped with containers still up left is taken down before the dir goes: the containers in
 * the OCI runtimes' roots under `<dir>/state/runtime` (killed and deleted), their conmons
 * (which outlive the daemon by design), then the mounts, lazily if still busy; then it waits
 * a moment for init to reap the exited conmons.
 */
export async function coracleTempDir(cleanups: Cleanups, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.add(`remove ${dir}`, async () => {
    const runtimes = join(dir, 'state', 'runtime');
    for (const handler of await readdir(runtimes).catch(() => [] as string[])) {
      const root = join(runtimes, handler);
      const ids = (await run(handler, [`--root=${root}`, 'list', '-q']).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
      for (const id of ids) await run(handler, [`--root=${root}`, 'delete', '--force', id]).catch(() => undefined);
    }
    for (const pid of await conmonsOf(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    for (let i = 0; i < 50 && (await conmonsOf(dir)).length > 0; i++) await sleep(100);
    await unmountAll(dir);
    await rm(dir, { recursive: true, force: true });
    // conmons are children of init, which reaps the last ones a moment after they exit.
    await zombiesReaped(/ \(conmon\) Z /, 5000);
  });
  return dir;
}
