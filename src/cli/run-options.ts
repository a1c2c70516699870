import type { PortSpec } from './cli-client.js';
import { ExitStatusError } from './exit-status.js';
import { invalidArgument } from '../errors.js';
import type { RestartPolicy } from '../container/restart-policy.js';

/** `coracle run`'s options as docker reads them: the repeatable ones (-e, -v, -p) and the command. */

export interface RunFlags {
  detach?: boolean;
  name?: string;
  entrypoint?: string;
  env?: string[];
  volume?: Mount[];
  publish?: PortSpec[];
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  workdir?: string;
  user?: RunUser;
  hostname?: string;
  network?: RunNetwork;
  memory?: number;
  cpus?: number;
  label?: [string, string][];
  restart?: RestartPolicy;
}

/** docker -u: a name or uid, and optionally a gid (CRI has no group names). */
export interface RunUser {
  name?: string;
  uid?: number;
  gid?: number;
}

/** docker --network: the host's namespace, loopback only, or Coracle's own network. */
export type RunNetwork = 'host' | 'none' | 'default';

export interface Mount {
  hostPath: string;
  containerPath: string;
  readonly: boolean;
}

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function parseEnv(items: string[]): { key: string; value: string }[] {
  return items.map((e) => {
    const at = e.indexOf('=');
    // docker: "-e NAME" passes the client's own value of NAME.
    return at < 0 ? { key: e, value: process.env[e] ?? '' } : { key: e.slice(0, at), value: e.slice(at + 1) };
  });
}

export function parseVolume(v: string): Mount {
  const [hostPath, containerPath, mode] = v.split(':');
  if (!hostPath?.startsWith('/') || !containerPath?.startsWith('/') || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    throw invalidArgument(`invalid volume "${v}": expected /host/path:/container/path[:ro|rw]`);
  }
  return { hostPath, containerPath, readonly: mode === 'ro' };
}

export function parsePort(p: string): PortSpec {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(p);
  const hostPort = Number(m?.[2]);
  const containerPort = Number(m?.[3]);
  if (!m || hostPort < 1 || hostPort > 65535 || containerPort < 1 || containerPort > 65535) throw invalidArgument(`invalid port mapping "${p}": expected [ip:]hostPort:containerPort[/tcp|udp]`);
  return { hostIp: m[1] ?? '', hostPort, containerPort, protocol: m[4] === 'udp' ? 'UDP' : 'TCP' };
}

/**
 * CRI's command and args from docker's --entrypoint and the arguments after the image: the
 * arguments replace the image's Cmd (`args`); --entrypoint X replaces its Entrypoint and drops
 * its Cmd (`command` [X]); --entrypoint '' clears the Entrypoint, and the arguments are then
 * the whole command. With neither, docker's daemon says "No command specified" (125).
 */
export function processArgs(entrypoint: string | undefined, trailing: string[]): { command: string[]; args: string[] } {
  if (entrypoint === undefined) return { command: [], args: trailing };
  if (entrypoint !== '') return { command: [entrypoint], args: trailing };
  if (trailing.length === 0) throw new ExitStatusError(125, "no command specified: --entrypoint '' clears the image's entrypoint and its cmd; give the command after the image");
  return { command: trailing, args: [] };
}

/** docker -u: `name`, `uid`, `uid:gid` or `name:gid`. */
export function parseUser(u: string): RunUser {
  const m = /^([^:\s]{1,256})(?::(\d{1,10}))?$/.exec(u);
  if (!m) throw invalidArgument(`invalid user "${u}": expected name, uid, uid:gid or name:gid`);
  const gid = m[2] === undefined ? {} : { gid: Number(m[2]) };
  if (/^\d{1,10}$/.test(m[1]!)) return { uid: Number(m[1]), ...gid };
  return { name: m[1]!, ...gid };
}

/** docker --network: host, none, or bridge/default (Coracle's own network). */
export function parseNetwork(n: string): RunNetwork {
  if (n === 'host' || n === 'none') return n;
  if (n === 'bridge' || n === 'default') return 'default';
  throw invalidArgument(`invalid network "${n}": expected host, none, bridge or default`);
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
/** docker refuses a memory limit under 6 MiB. */
export const MIN_MEMORY = 6 * 1024 ** 2;

/** docker --memory: a number with b, k, m or g (powers of 1024), at least 6m. */
export function parseMemory(v: string): number {
  const m = /^(\d{1,15}(?:\.\d{1,6})?)([bkmg]?)b?$/i.exec(v);
  const bytes = m ? Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!) : NaN;
  if (!Number.isSafeInteger(bytes)) throw invalidArgument(`invalid memory "${v}": expected a number with an optional unit b, k, m or g`);
  if (bytes < MIN_MEMORY) throw invalidArgument(`invalid memory "${v}": the minimum is 6m`);
  return bytes;
}

/** CRI's CPU period for --cpus, as docker's: 100 ms. */
export const CPU_PERIOD_US = 100_000;

/** docker --cpus: a decimal number of CPUs, at least 0.01 (the daemon's host says how many it has). */
export function parseCpus(v: string): number {
  const n = /^\d{1,4}(?:\.\d{1,6})?$|^\.\d{1,6}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 0.01 && n <= 4096)) throw invalidArgument(`invalid cpus "${v}": expected a decimal number of CPUs, 0.01 or more`);
  return n;
}

/** docker -l: `key=value`, or `key` for an empty value. */
export function parseLabel(l: string): [string, string] {
  const at = l.indexOf('=');
  const key = at < 0 ? l : l.slice(0, at);
  if (key === '' || /\s/.test(key)) throw invalidArgument(`invalid label "${l}": expected key=value`);
  return [key, at < 0 ? '' : l.slice(at + 1)];
}
