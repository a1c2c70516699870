import { InvalidArgumentError } from 'commander';
import { rfc3339Nanos as nanosOf } from '../util/rfc3339.js';

/**
 * docker's time flags (logs --since/--until): a Go duration before now (`10m`, `1h30m`,
 * `1.5h`, `250ms`), an RFC 3339 date or date-time (`2026-12-02`, `2026-12-02T07:30:12Z`,
 * `…+01:00`; without a zone it is UTC) or a Unix time in seconds (`1764660612`,
 * `1764660612.5`). The moment, in nanoseconds since the epoch (a CRI log line's time has
 * nanoseconds, and two lines may share a millisecond); a bad value is commander's usage error
 * naming the flag (exit 2).
 */
export function timeArg(now: () => number = Date.now): (value: string) => bigint {
  return (value) => {
    const d = goDuration(value);
    if (d !== undefined) return BigInt(now()) * 1_000_000n - BigInt(Math.round(d * 1e6));
    const unix = /^(\d{1,12})(?:\.(\d{1,9}))?$/.exec(value);
    if (unix) return BigInt(unix[1]!) * 1_000_000_000n + BigInt((unix[2] ?? '').padEnd(9, '0'));
    const m = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:\d{2})?)?$/.exec(value);
    const ns = m ? nanosOf(`${m[1]}T${m[2] ?? '00:00:00'}${m[3] ?? 'Z'}`) : undefined;
    if (ns === undefined) throw new InvalidArgumentError('Expected a duration (10m, 1h30m), an RFC 3339 time (2026-12-02T07:30:12Z) or Unix seconds.');
    return ns;
  };
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration (time.ParseDuration) in milliseconds; undefined when `text` is none. */
export function goDuration(text: string): number | undefined {
  if (text.length > 64 || !/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return total;
}

/** A CRI log line's RFC 3339 time as docker's logs -t prints it (UTC, nanoseconds kept), and in nanoseconds. */
export function utcNanos(criTime: string): { ns: bigint; text: string } {
  const ns = nanosOf(criTime);
  if (ns === undefined) return { ns: 0n, text: criTime };
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return { ns, text: `${new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)}.${fraction}Z` };
}
