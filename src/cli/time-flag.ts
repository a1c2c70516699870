import { InvalidArgumentError } from 'commander';

/**
 * docker's time flags (logs --since/--until): a Go duration before now (`10m`, `1h30m`,
 * `1.5h`, `250ms`), an RFC 3339 date or date-time (`2026-12-02`, `2026-12-02T07:30:12Z`,
 * `…+01:00`; without a zone it is UTC) or a Unix time in seconds (`1764660612`,
 * `1764660612.5`). The moment, in milliseconds since the epoch; a bad value is commander's
 * usage error naming the flag (exit 2).
 */
export function timeArg(now: () => number = Date.now): (value: string) => number {
  return (value) => {
    const d = goDuration(value);
    if (d !== undefined) return now() - d;
    if (/^\d{1,12}(\.\d{1,9})?$/.test(value)) return Math.round(Number(value) * 1000);
    const m = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:\d{2})?)?$/.exec(value);
    const ms = m ? Date.parse(`${m[1]}T${m[2] ?? '00:00:00'}${m[3] ?? 'Z'}`) : NaN;
    if (Number.isNaN(ms)) throw new InvalidArgumentError('Expected a duration (10m, 1h30m), an RFC 3339 time (2026-12-02T07:30:12Z) or Unix seconds.');
    return ms;
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

/** A CRI log line's RFC 3339 time as docker's logs -t prints it: UTC, nanoseconds kept. */
export function utcNanos(criTime: string): { ms: number; text: string } {
  const ms = Date.parse(criTime);
  if (Number.isNaN(ms)) return { ms: 0, text: criTime };
  const fraction = (/\.(\d{1,9})/.exec(criTime)?.[1] ?? '').padEnd(9, '0');
  return { ms, text: `${new Date(ms).toISOString().slice(0, 19)}.${fraction}Z` };
}
