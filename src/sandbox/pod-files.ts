import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DnsConfig } from './sandbox-store.js';

/**
 * The files a pod's containers mount at /etc/resolv.conf, /etc/hostname and /etc/hosts,
 * kept in the sandbox dir. A pod with no DNS config gets the host's resolv.conf, as with
 * containerd.
 */
export function resolvConf(dns: DnsConfig): string {
  const lines: string[] = [];
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  for (const server of dns.servers) lines.push(`nameserver ${server}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return lines.join('\n') + '\n';
}

export function hostsFile(hostname: string, ip: string | undefined): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters'];
  if (ip) lines.push(`${ip}\t${hostname}`);
  return lines.join('\n') + '\n';
}

export async function writePodFiles(
  dir: string,
  opts: { dns: DnsConfig; hostname: string; hostNetwork: boolean; ip?: string },
): Promise<void> {
  const empty = opts.dns.servers.length + opts.dns.searches.length + opts.dns.options.length === 0;
  if (empty) await copyFile('/etc/resolv.conf', join(dir, 'resolv.conf'));
  else await writeFile(join(dir, 'resolv.conf'), resolvConf(opts.dns));
  await writeFile(join(dir, 'hostname'), `${opts.hostname}\n`);
  if (opts.hostNetwork) await writeFile(join(dir, 'hosts'), await readFile('/etc/hosts'));
  else await writeFile(join(dir, 'hosts'), hostsFile(opts.hostname, opts.ip));
}
