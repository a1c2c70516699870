import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoracleError } from '../errors.js';
import { cgroupDir, type CgroupHost } from '../oci/cgroup-host.js';

/** A process of a container, as docker top shows one. */
export interface TopEntry {
  pid: number;
  ppid: number;
  user: string;
  time: string;
  command: string;
}

/** The kernel's clock ticks per second for /proc/PID/stat times (USER_HZ, 100 on Linux). */
const TICKS = 100;

/**
 * The cgroup.procs file of the cgroup a process is in, from the text of its /proc/PID/cgroup:
 * its pids hierarchy on v1 (another it is in when the host has none), the one cgroup2
 * hierarchy on unified.
 */
export function cgroupProcsFile(host: CgroupHost, procCgroup: string): string | undefined {
  const candidates = host.layout === 'unified' ? [''] : ['pids', ...Object.keys(host.v1).sort()];
  for (const c of candidates) {
    const dir = cgroupDir(host, procCgroup, c);
    if (dir) return join(dir, 'cgroup.procs');
  }
  return undefined;
}

/** The pids in the cgroup `pid` is in. */
async function cgroupPids(pid: number, host: CgroupHost): Promise<number[]> {
  const procs = cgroupProcsFile(host, await readFile(`/proc/${pid}/cgroup`, 'utf8'));
  if (!procs) throw new CoracleError('FAILED_PRECONDITION', `process ${pid}: top: no cgroup hierarchy to list its processes from (cgroups: ${host.layout})`);
  return (await readFile(procs, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .sort((a, b) => a - b);
}

function cpuTime(ticks: number): string {
  const total = Math.floor(ticks / TICKS);
  const [d, h, m, s] = [Math.floor(total / 86400), Math.floor(total / 3600) % 24, Math.floor(total / 60) % 60, total % 60];
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${d > 0 ? `${d}-` : ''}${two(h)}:${two(m)}:${two(s)}`;
}

async function hostUsers(): Promise<Map<number, string>> {
  const text = await readFile('/etc/passwd', 'utf8').catch(() => '');
  return new Map(text.split('\n').map((l) => l.split(':')).filter((f) => f.length > 2).map((f) => [Number(f[2]), f[0]!]));
}

/** The processes in the cgroup of `initPid` (the container's init), oldest pid first. */
export async function containerProcesses(initPid: number, cgroups: CgroupHost): Promise<TopEntry[]> {
  const [pids, users] = await Promise.all([cgroupPids(initPid, cgroups), hostUsers()]);
  const entries = await Promise.all(
    pids.map(async (pid): Promise<TopEntry | undefined> => {
      try {
        const [stat, status, cmdline] = await Promise.all([
          readFile(`/proc/${pid}/stat`, 'utf8'),
          readFile(`/proc/${pid}/status`, 'utf8'),
          readFile(`/proc/${pid}/cmdline`, 'utf8'),
        ]);
        // comm may hold spaces and parentheses: the fields start after its last ')'.
        const close = stat.lastIndexOf(')');
        const comm = stat.slice(stat.indexOf('(') + 1, close);
        const f = stat.slice(close + 2).split(' ');
        const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
        return {
          pid,
          ppid: Number(f[1]),
          user: users.get(uid) ?? String(uid),
          time: cpuTime(Number(f[11]) + Number(f[12])),
          command: cmdline ? cmdline.replace(/\0+$/, '').replace(/\0/g, ' ') : `[${comm}]`,
        };
      } catch {
        // Gone between the listing and the reading.
        return undefined;
      }
    }),
  );
  return entries.filter((e): e is TopEntry => e !== undefined);
}
