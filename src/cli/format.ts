/**
 * How docker prints things, for the `coracle` commands that mimic it: durations
 * (go-units' HumanDuration), sizes (HumanSize, decimal, 3 significant digits), a
 * container's STATUS column, short ids and space-aligned tables.
 */

export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

export function humanSize(bytes: number): string {
  return scaled(bytes, 1000, ['B', 'kB', 'MB', 'GB', 'TB', 'PB'], 3);
}

/** go-units' BytesSize, as docker stats prints memory: binary units, 4 significant digits. */
export function bytesSize(bytes: number): string {
  return scaled(bytes, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'], 4);
}

function scaled(bytes: number, base: number, units: string[], precision: number): string {
  let n = bytes;
  let i = 0;
  while (n >= base && i < units.length - 1) {
    n /= base;
    i++;
  }
  return `${Number(n.toPrecision(precision))}${units[i]}`;
}

export interface StatusInput {
  state: 'created' | 'running' | 'exited' | 'unknown';
  startedAt: number;
  finishedAt: number;
  exitCode: number;
}

/** docker ps's STATUS: "Up 3 seconds", "Exited (137) 4 minutes ago", "Created". */
export function containerStatus(c: StatusInput, now: number): string {
  switch (c.state) {
    case 'running':
      return `Up ${humanDuration(now - c.startedAt)}`;
    case 'exited':
      return `Exited (${c.exitCode}) ${humanDuration(now - c.finishedAt)} ago`;
    case 'created':
      return 'Created';
    case 'unknown':
      return 'Unknown';
  }
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** Columns separated by at least three spaces, as docker's tabwriter lays them out. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** COMMAND as docker ps shows it: quoted, cut to 20 characters with an ellipsis. */
export function quotedCommand(argv: string[]): string {
  const text = argv.join(' ');
  return JSON.stringify(text.length > 20 ? `${text.slice(0, 19)}…` : text);
}
