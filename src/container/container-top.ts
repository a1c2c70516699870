import { readFile } from 'node:fs/promises';

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

/** The pids in the cgroup `pid` is in (cgroup v1 pids controller, or the v2 unified tree). */
async function cgroupPids(pid: number): Promise<number[]> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n');
  const v1 = lines.map((l) => l.split(':')).find(([, ctrl]) => ctrl?.split(',').includes('pids'));
  const procs = v1 ? `/sys/fs/cgroup/pids${v1[2]}/cgroup.procs` : `/sys/fs/cgroup${lines.find((l) => l.startsWith('0::'))?.slice(3) ?? ''}/cgroup.procs`;
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
export async function containerProcesses(initPid: number): Promise<TopEntry[]> {
  const [pids, users] = await Promise.all([cgroupPids(initPid), hostUsers()]);
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
