/**
 * bench/lib/coracle-daemon: a coracle started on a temp dir of its own and answering CRI, with
 * whatever it may leave behind (containers, conmons, mounts) removed at cleanup.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { criClients, type CriClients } from '../../test/helpers/cri-client.js';
import { registryHostsToml } from '../../test/helpers/daemon.js';
import { DAEMON_BUNDLE, daemonScript } from '../../src/util/package-root.js';
import { run, START_TIMEOUT_MS, Cleanups, sleep, stopProcess, unmountAll, processesNamed, zombiesReaped } from './host.js';

export const CORACLE_BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

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
  // The daemon runs from the bundle only when it is newer than every module tsc wrote
  // (util/package-root.ts): one file of dist/src touched since `npm run build` and the figures
  // are those of the unbundled daemon, some 7 MiB larger. Said, not hidden.
  if (daemonScript() !== DAEMON_BUNDLE) console.log(`WARNING: the daemon runs unbundled (dist/src has a module newer than ${DAEMON_BUNDLE}): run npm run build first`);
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
