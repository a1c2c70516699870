/**
 * An RFC 3339 time in nanoseconds since the epoch, its fraction kept whole (a CRI log line's
 * time has nanoseconds, and two lines may share a millisecond); undefined when it is none.
 */
export function rfc3339Nanos(text: string): bigint | undefined {
  const day = /^(\d{4})-(\d{2})-(\d{2})T/.exec(text);
  if (!day) return undefined;
  // Date.parse would roll 2026-02-30 over to March: a day that does not exist is refused.
  const [y, mo, d] = [Number(day[1]), Number(day[2]), Number(day[3])];
  if (new Date(Date.UTC(y, mo - 1, d)).getUTCDate() !== d || mo < 1 || mo > 12) return undefined;
  const ms = Date.parse(text.replace(/\.\d+/, ''));
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((/\.(\d{1,9})/.exec(text)?.[1] ?? '').padEnd(9, '0'));
}
