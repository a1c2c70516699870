import { invalidArgument } from '../errors.js';

export type SysctlNamespace = 'net' | 'ipc' | 'uts';

/**
 * Which namespace a sysctl belongs to, as runc and the kernel define them; undefined for
 * one that is not namespaced (it would change the whole node).
 */
export function sysctlNamespace(name: string): SysctlNamespace | undefined {
  const key = name.replace(/\//g, '.');
  if (key.startsWith('net.')) return 'net';
  if (/^kernel\.(shm(all|max|mni)|shm_rmid_forced|msg(max|mnb|mni)|sem)$/.test(key) || key.startsWith('fs.mqueue.')) return 'ipc';
  if (key === 'kernel.hostname' || key === 'kernel.domainname') return 'uts';
  return undefined;
}

/**
 * Checks a pod's sysctls against the namespaces it gets: a sysctl must be namespaced, and
 * its namespace must be the pod's own, not the host's.
 */
export function vetSysctls(sysctls: Record<string, string>, own: Record<SysctlNamespace, boolean>): Record<string, string> {
  for (const [name, value] of Object.entries(sysctls)) {
    if (!/^[a-z0-9_]+([./][a-z0-9_-]+)+$/i.test(name) || name.includes('..')) throw invalidArgument(`sysctl "${name}": bad name`);
    if (value.includes('\n')) throw invalidArgument(`sysctl ${name}: value has a newline`);
    const ns = sysctlNamespace(name);
    if (!ns) throw invalidArgument(`sysctl ${name}: not namespaced, it would change the node`);
    if (!own[ns]) throw invalidArgument(`sysctl ${name}: needs the pod's own ${ns} namespace, but the pod uses the host's`);
  }
  return sysctls;
}
