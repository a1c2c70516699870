/** bench/lib/memory: what a runtime's processes take, read from /proc. */
import { readdir, readFile } from 'node:fs/promises';
import { sleep } from './host.js';

/**
 * Left to a runtime's processes before their memory is read: 7 s, so that what a daemon
 * gives back in the background after a burst of work has been given back. Coracle's memory
 * reducer (src/util/memory-reducer.ts) runs once the daemon has been quiet for a tick, at
 * most every 5 s; Go's scavenger returns containerd's free heap in the background too.
 */
export const SETTLE_MS = 7000;

/** Resident and proportional set sizes, in KiB. */
export interface Mem {
  rss: number;
  pss: number;
}

/** VmRSS (/proc/PID/status) and Pss (smaps_rollup) of each of `pids`, summed. */
export async function memOf(pids: number[]): Promise<Mem> {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const r = /^VmRSS:\s+(\d+) kB/m.exec(status);
    if (!r) throw new Error(`process ${pid}: no VmRSS (a zombie?)`);
    rss += Number(r[1]);
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
    pss += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
  }
  return { rss, pss };
}

/** How many fds `pid` has open. */
export async function fdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

export const mib = (kib: number, digits = 1): string => `${(kib / 1024).toFixed(digits)} MiB`;
export const memText = (m: Mem, per = 1, digits = 1): string => `${mib(m.rss / per, digits)} (PSS ${mib(m.pss / per, digits)})`;

/** The children of `parents`, by /proc/PID/stat's ppid. */
export async function childrenOf(parents: number[]): Promise<{ pid: number; argv: string[] }[]> {
  const want = new Set(parents);
  const out: { pid: number; argv: string[] }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, the last ")" ends it.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!want.has(ppid)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean);
    out.push({ pid: Number(entry), argv });
  }
  return out;
}

/** How often peakAnon reads a process's anonymous memory. */
const ANON_SAMPLE_MS = 50;

/** The RssAnon of `pid` (proc(5)), in MiB; 0 once the process is gone. */
async function anonMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/^RssAnon:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) / 1024;
}

/**
 * `work`'s result, and the most RssAnon `pid` had while it ran, read every ANON_SAMPLE_MS
 * from when this is called. `work` is awaited at once, so that its failure is this call's.
 */
export async function peakAnon<T>(pid: number, work: Promise<T>): Promise<{ result: T; peakMiB: number }> {
  let peakMiB = 0;
  let done = false;
  const sampling = (async () => {
    while (!done) {
      peakMiB = Math.max(peakMiB, await anonMiB(pid));
      await sleep(ANON_SAMPLE_MS);
    }
  })();
  let result: T;
  try {
    result = await work;
  } finally {
    done = true;
    await sampling;
  }
  // After the sampling's last read: a pull shorter than one read still has one.
  return { result, peakMiB };
}
