/**
 * bench/lib/loadavg: the machine's load average (/proc/loadavg: 1, 5 and 15 minutes), printed
 * where a bench's runs start and end, with a warning when the 1-minute figure is over 1 (the
 * issue's targets are for a quiet machine: a loaded one slows containerd's many processes
 * more than Coracle's, and every timing is noisier). Each reading is kept for the summary.
 */
import { readFile } from 'node:fs/promises';

export interface LoadAverage {
  at: string;
  one: number;
  five: number;
  fifteen: number;
}

/** Above this 1-minute load the figures are not those of a quiet machine. */
export const QUIET_LOAD = 1;

const readings: LoadAverage[] = [];

export async function readLoad(at: string): Promise<LoadAverage> {
  const [one, five, fifteen] = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).map(Number);
  return { at, one: one ?? NaN, five: five ?? NaN, fifteen: fifteen ?? NaN };
}

const text = (l: LoadAverage): string => `${l.one.toFixed(2)} / ${l.five.toFixed(2)} / ${l.fifteen.toFixed(2)}`;

/** Reads, prints and keeps the load average, labelled `at` ("start", "after coracle run 1"...). */
export async function printLoad(at: string): Promise<void> {
  const l = await readLoad(at);
  readings.push(l);
  console.log(`load average (1 / 5 / 15 min) ${at}: ${text(l)}`);
  if (l.one > QUIET_LOAD) console.log(`WARNING: 1-min load ${l.one.toFixed(2)} > ${QUIET_LOAD}: not a quiet machine, ratios are not the issue's`);
}

/** Every reading so far, one markdown line, and whether any was over QUIET_LOAD. */
export function loadSummary(): string {
  const over = readings.filter((l) => l.one > QUIET_LOAD);
  const all = readings.map((l) => `${l.at} ${text(l)}`).join('; ');
  return `Load average (1 / 5 / 15 min): ${all}.${over.length > 0 ? ` **Not quiet:** 1-min load over ${QUIET_LOAD} at ${over.length} of ${readings.length} readings.` : ''}`;
}
