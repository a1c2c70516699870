import type { Command } from 'commander';
import { CoracleError } from '../errors.js';
import { watchContainerEvents, type CliEvent, type Known } from './container-event-stream.js';
import { repeatableArg } from './flag-parsers.js';
import { timeArg } from './time-flag.js';
import { resolveContainer } from './names.js';
import { withClient, type SocketOf } from './with-client.js';

const ACTIONS = ['create', 'start', 'die', 'destroy'];

/** A --filter value: key=value with key container, event or image. */
export function parseEventFilter(text: string): { key: 'container' | 'event' | 'image'; value: string } {
  const m = /^(container|event|image)=(.+)$/.exec(text);
  if (!m) throw new Error('Expected container=NAME, event=ACTION or image=IMAGE.');
  if (m[1] === 'event' && !ACTIONS.includes(m[2]!)) throw new Error(`Expected an event among ${ACTIONS.join(', ')}.`);
  return { key: m[1] as 'container' | 'event' | 'image', value: m[2]! };
}

/** docker's event time: RFC 3339 in UTC with nanoseconds. */
export function eventTime(nanos: bigint): string {
  const iso = new Date(Number(nanos / 1_000_000n)).toISOString().slice(0, 19);
  return `${iso}.${String(nanos % 1_000_000_000n).padStart(9, '0')}Z`;
}

/** docker's event line: `TIME container ACTION ID (exitCode=…, image=…, name=…)`, attributes sorted. */
export function eventLine(e: CliEvent): string {
  const attrs = [...(e.exitCode !== undefined ? [`exitCode=${e.exitCode}`] : []), `image=${e.image}`, `name=${e.name}`];
  return `${eventTime(e.at)} container ${e.action} ${e.id} (${attrs.join(', ')})\n`;
}

interface EventsOptions {
  since?: bigint;
  until?: bigint;
  filter?: { key: 'container' | 'event' | 'image'; value: string }[];
}

/**
 * docker events, from CRI's GetContainerEvents: the daemon keeps no history of them, so these
 * are the events from now on; --since only leaves out the ones before it, --until ends the
 * command at that time. Filters of one key match any of their values, keys all must match.
 * Ctrl+C (or SIGTERM) ends it with status 0.
 */
export function registerEvents(program: Command, socketOf: SocketOf): void {
  program
    .command('events')
    .description('print container events as they happen (create, start, die, destroy)')
    .option('--since <time>', 'leave out events before this time (RFC 3339, Unix seconds, or a duration back: 10m)', timeArg())
    .option('--until <time>', 'stop at this time (as --since)', timeArg())
    .option('-f, --filter <key=value>', 'container=NAME, event=ACTION or image=IMAGE (repeatable)', repeatableArg(parseEventFilter))
    .action(async (o: EventsOptions, cmd: Command) => {
      const socket = await socketOf(cmd);
      const until = o.until === undefined ? undefined : Number(o.until / 1_000_000n) - Date.now();
      if (until !== undefined && until <= 0) return;
      const known = new Map<string, Known>();
      const all = await withClient(socket, (client) => client.containers());
      for (const c of all) known.set(c.id, { image: c.image, name: c.name });
      const filters = o.filter ?? [];
      const values = (key: string): string[] => filters.filter((f) => f.key === key).map((f) => f.value);
      // A container filter names its containers as the other commands do; one named before it exists is matched by name or id.
      const containers = values('container').map((v) => {
        try {
          return resolveContainer(all, v).id;
        } catch (err) {
          if (err instanceof CoracleError && err.code === 'NOT_FOUND') return v;
          throw err;
        }
      });
      const shown = (e: CliEvent): boolean =>
        (o.since === undefined || e.at >= o.since) &&
        (containers.length === 0 || containers.some((v) => e.id === v || e.name === v || e.id.startsWith(v))) &&
        (values('event').length === 0 || values('event').includes(e.action)) &&
        (values('image').length === 0 || values('image').includes(e.image));
      const stream = watchContainerEvents(socket, known, (e) => {
        if (shown(e)) process.stdout.write(eventLine(e));
      });
      const end = (): void => stream.close();
      const timer = until === undefined ? undefined : setTimeout(end, until);
      process.once('SIGINT', end);
      process.once('SIGTERM', end);
      try {
        await stream.done;
      } finally {
        clearTimeout(timer);
        process.off('SIGINT', end);
        process.off('SIGTERM', end);
      }
    });
}
