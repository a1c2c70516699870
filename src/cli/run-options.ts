import type { PortSpec } from './cli-client.js';
import { invalidArgument } from '../errors.js';

/** `coracle run`'s repeatable options (-e, -v, -p), as docker reads them. */

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function parseEnv(items: string[]): { key: string; value: string }[] {
  return items.map((e) => {
    const at = e.indexOf('=');
    // docker: "-e NAME" passes the client's own value of NAME.
    return at < 0 ? { key: e, value: process.env[e] ?? '' } : { key: e.slice(0, at), value: e.slice(at + 1) };
  });
}

export function parseVolume(v: string): { hostPath: string; containerPath: string; readonly: boolean } {
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
