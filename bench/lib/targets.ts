/**
 * bench/lib/targets: the figures of alternating runs (coracle, containerd, coracle, ...)
 * reduced to medians, and issue 14's targets checked against them, as markdown tables ready
 * for docs/benchmarks.md.
 */

/** The middle value (the mean of the two middle ones for an even count). */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** How a target is stated: Coracle's figure against containerd's (a ratio), or an absolute limit. */
export type Limit = { kind: 'ratio'; max: number } | { kind: 'absolute'; max: number; strict?: boolean };

export interface Target {
  /** What is checked, as the issue names it. */
  name: string;
  coracle: number;
  /** Absent when containerd did not run. */
  containerd?: number;
  limit: Limit;
  /** 'ms' or 'MiB'. */
  unit: string;
}

export interface Verdict {
  target: Target;
  ratio: number | undefined;
  /** undefined: cannot be told (a ratio target without containerd). */
  pass: boolean | undefined;
}

export function verdict(t: Target): Verdict {
  const ratio = t.containerd !== undefined && t.containerd > 0 ? t.coracle / t.containerd : undefined;
  if (t.limit.kind === 'ratio') return { target: t, ratio, pass: ratio === undefined ? undefined : ratio <= t.limit.max };
  return { target: t, ratio, pass: t.limit.strict ? t.coracle < t.limit.max : t.coracle <= t.limit.max };
}

const figure = (x: number | undefined, unit: string): string => (x === undefined || Number.isNaN(x) ? '-' : `${x.toFixed(x < 10 ? 2 : 1)} ${unit}`);

export function limitText(l: Limit, unit: string): string {
  return l.kind === 'ratio' ? `≤ ${l.max}x` : `${l.strict ? '<' : '≤'} ${l.max} ${unit}`;
}

const result = (v: Verdict): string => (v.pass === undefined ? 'n/a' : v.pass ? 'PASS' : '**FAIL**');

/** The targets' table; returns whether every target that could be told passed. */
export function printTargets(title: string, targets: Target[]): boolean {
  const verdicts = targets.map(verdict);
  console.log(`\n${title}\n`);
  console.log('| target | Coracle | containerd | Coracle / containerd | target | result |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const v of verdicts) {
    const t = v.target;
    console.log(`| ${t.name} | ${figure(t.coracle, t.unit)} | ${figure(t.containerd, t.unit)} | ${v.ratio === undefined ? '-' : `${v.ratio.toFixed(2)}x`} | ${limitText(t.limit, t.unit)} | ${result(v)} |`);
  }
  const failed = verdicts.filter((v) => v.pass === false).length;
  const untold = verdicts.filter((v) => v.pass === undefined).length;
  console.log(`\n${verdicts.length - failed - untold} of ${verdicts.length} targets pass${failed ? `, ${failed} fail` : ''}${untold ? `, ${untold} not told (no containerd)` : ''}.`);
  return failed === 0;
}

/** Start and teardown, as issue 14 sums them, from the median p50 of each operation. */
export function sumOf(p50: Map<string, number>, ops: readonly string[]): number {
  return ops.reduce((a, op) => a + (p50.get(op) ?? NaN), 0);
}
