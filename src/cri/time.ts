/** CRI timestamps are int64 nanoseconds since the epoch, sent as decimal strings. */
export function toNanos(date: Date | number | string): string {
  const ms = typeof date === 'string' ? Date.parse(date) : typeof date === 'number' ? date : date.getTime();
  return (BigInt(Math.trunc(ms)) * 1_000_000n).toString();
}
