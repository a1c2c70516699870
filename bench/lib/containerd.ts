/**
 * bench/lib/containerd: containerd started on a temp dir of its own and answering CRI, for the
 * benches that put coracle next to it, with whatever it may leave behind (shims, sandboxes,
 * libcni's cache, host dirs it makes) removed at cleanup.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { criClients, type CriClients } from '../../test/helpers/cri-client.js';
import { run, START_TIMEOUT_MS, Cleanups, sleep, stopProcess, tail, unmountAll, zombiesReaped } from './host.js';

export const CRI_PLUGIN = 'plugins."io.containerd.grpc.v1.cri"';

/** Where containerd's libcni caches the result of each CNI ADD, whatever its config says. */
const LIBCNI_CACHE = '/var/lib/cni/results';

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
