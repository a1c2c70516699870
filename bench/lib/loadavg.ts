/**
 * bench/lib/loadavg: how quiet the machine is, printed where a bench's runs start and end: the
 * load average (/proc/loadavg: 1, 5 and 15 minutes) and, since the reading before, the share
 * of CPU time the hypervisor gave to others (steal, from /proc/stat). A warning goes with a
 * 1-minute load over 1 (the issue's targets are for a quiet machine: a loaded one slows
 * containerd's many processes more than Coracle's, and every timing is noisier) and with
 * more than 5% stolen (a busy host slows whichever run it falls on, by up to 2x on this VM,
 * while the load average, which counts only this machine's tasks, does not move). Each
 * reading is kept for the summary.
 */
import { readFile } from 'node:fs/promises';

export interface LoadAverage {
  at: string;
  one: number;
  five: number;
  fifteen: number;
  /** Per cent of the CPU time since the reading before that the hypervisor stole; none for the first. */
  stolen?: number;
}

/** Above this 1-minute load the figures are not those of a quiet machine. */
const QUIET_LOAD = 1;
/** Above this per cent of CPU time stolen, neither. */
const QUIET_STEAL = 5;

const readings: LoadAverage[] = [];

/** CPU time in ticks, all CPUs: the total and what was stolen. */
interface CpuTicks {
  total: number;
  steal: number;
}

let lastTicks: CpuTicks | undefined;

/**
 * /proc/stat's first line: user nice system idle iowait irq softirq steal guest guest_nice.
 * guest and guest_nice are counted in user and nice already, so the total is the first 8.
 */
function cpuTicks(procStat: string): CpuTicks {
  const fields = (procStat.split('\n', 1)[0] ?? '').trim().split(/\s+/);
  if (fields[0] !== 'cpu') throw new Error(`/proc/stat: no cpu line first: ${fields[0] ?? ''}`);
  const n = fields.slice(1, 9).map(Number);
  return { total: n.reduce((a, b) => a + b, 0), steal: n[7] ?? 0 };
}

/** Per cent of the ticks between `before` and `after` that were stolen. */
function stolenPercent(before: CpuTicks, after: CpuTicks): number {
  const total = after.total - before.total;
  return total > 0 ? (100 * (after.steal - before.steal)) / total : 0;
}

async function readLoad(at: string): Promise<LoadAverage> {
  const [one, five, fifteen] = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).map(Number);
  const ticks = cpuTicks(await readFile('/proc/stat', 'utf8'));
  const before = lastTicks;
  lastTicks = ticks;
  return { at, one: one ?? NaN, five: five ?? NaN, fifteen: fifteen ?? NaN, ...(before ? { stolen: stolenPercent(before, ticks) } : {}) };
}

const text = (l: LoadAverage): string => `${l.one.toFixed(2)} / ${l.five.toFixed(2)} / ${l.fifteen.toFixed(2)}${l.stolen === undefined ? '' : `, ${l.stolen.toFixed(1)}% stolen`}`;
const notQuiet = (l: LoadAverage): boolean => l.one > QUIET_LOAD || (l.stolen ?? 0) > QUIET_STEAL;

/** Reads, prints and keeps the load average, labelled `at` ("start", "after coracle run 1"...). */
export async function printLoad(at: string): Promise<void> {
  const l = await readLoad(at);
  readings.push(l);
  console.log(`load average (1 / 5 / 15 min) ${at}: ${text(l)}`);
  if (l.one > QUIET_LOAD) console.log(`WARNING: 1-min load ${l.one.toFixed(2)} > ${QUIET_LOAD}: not a quiet machine, ratios are not the issue's`);
  const stolen = l.stolen ?? 0;
  if (stolen > QUIET_STEAL) console.log(`WARNING: the hypervisor stole ${stolen.toFixed(1)}% of the CPU time since the reading before (> ${QUIET_STEAL}%): a busy host, timings slowed`);
}

/** Every reading so far, one markdown line, and how many were not quiet. */
export function loadSummary(): string {
  const over = readings.filter(notQuiet);
  const all = readings.map((l) => `${l.at} ${text(l)}`).join('; ');
  return `Load average (1 / 5 / 15 min) and CPU stolen since the reading before: ${all}.${over.length > 0 ? ` **Not quiet:** 1-min load over ${QUIET_LOAD} or over ${QUIET_STEAL}% stolen at ${over.length} of ${readings.length} readings.` : ''}`;
}
