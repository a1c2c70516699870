import type { PortSpec } from './cli-client.js';
import { ExitStatusError } from './exit-status.js';
import { invalidArgument } from '../errors.js';

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
}

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
