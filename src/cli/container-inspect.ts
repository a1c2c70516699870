import type { CliContainer } from './cli-client.js';
import { parseTemplate, renderTemplate } from './go-template.js';

/**
 * `inspect`'s record of a container: docker's keys first (Id, Created, Name, Image, State,
 * Config: what docker users' `-f '{{.State.Status}}'` reads), then Coracle's own view (the
 * CLI's fields, CRI's verbose status and its pod's), as before.
 */
export function inspectRecord(c: CliContainer, own: Record<string, unknown>): Record<string, unknown> {
  const info = (own.info ?? {}) as { info?: { pid?: number; config?: { envs?: { key: string; value: string }[]; tty?: boolean; stdin?: boolean } } };
  const pid = typeof info.info?.pid === 'number' && c.state === 'running' ? info.info.pid : 0;
  const time = (ms: number): string => (ms > 0 ? new Date(ms).toISOString() : '0001-01-01T00:00:00Z');
  return {
    Id: c.id,
    Created: time(c.createdAt),
    Path: c.command[0] ?? c.args[0] ?? '',
    Args: c.command.length > 0 ? [...c.command.slice(1), ...c.args] : c.args.slice(1),
    State: {
      Status: c.state,
      Running: c.state === 'running',
      Paused: false,
      Restarting: false,
      OOMKilled: c.reason === 'OOMKilled',
      Dead: false,
      Pid: pid,
      ExitCode: c.exitCode,
      Error: '',
      StartedAt: time(c.startedAt),
      FinishedAt: time(c.finishedAt),
    },
    Image: c.imageId,
    Name: `/${c.name}`,
    LogPath: c.logPath,
    Config: { Image: c.image, Entrypoint: c.command, Cmd: c.args, Labels: c.labels },
    ...own,
  };
}

/** inspect -f: the template over each record, a line each. */
export function formatInspect(records: Record<string, unknown>[], format: string | undefined): string {
  if (format === undefined || format === '' || format === 'json') return `${JSON.stringify(records, null, 2)}\n`;
  const parts = parseTemplate(format.replaceAll('\\t', '\t').replaceAll('\\n', '\n'), '--format');
  return records.map((r) => `${renderTemplate(parts, r, '--format')}\n`).join('');
}
