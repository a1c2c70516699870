/** bench/lib/timings: the figures of the benches that time RPCs. */

/** Nearest rank: the smallest value with at least p% of them at or below it. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}
export const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** p50, p95 and mean of each of `rows`, in ms, under `title`. */
export function printTimings<R extends string>(title: string, t: Record<R, number[]>, rows: readonly R[]): void {
  const width = Math.max(...rows.map((r) => r.length)) + 2;
  console.log(title);
  console.log(`  ${'RPC'.padEnd(width)}${'p50 ms'.padStart(9)}${'p95 ms'.padStart(9)}${'mean ms'.padStart(9)}`);
  for (const rpc of rows) {
    const xs = t[rpc];
    console.log(`  ${rpc.padEnd(width)}${percentile(xs, 50).toFixed(2).padStart(9)}${percentile(xs, 95).toFixed(2).padStart(9)}${mean(xs).toFixed(2).padStart(9)}`);
  }
}
