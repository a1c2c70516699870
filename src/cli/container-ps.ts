import type { Command } from 'commander';
import { containerArgs } from '../oci/process-args.js';
import type { CliClient, CliContainer, CliImage } from './cli-client.js';
import { intArg } from './flag-parsers.js';
import { containerStatus, humanDuration, quotedCommand, shortId } from './format.js';
import { goTime } from './go-time.js';
import { formatList } from './list-format.js';
import { matchesPsFilters, psFilterArg, type PsFilters } from './ps-filter.js';
import { withClient, type SocketOf } from './with-client.js';

/** docker ps's template fields, each with its column header. */
const PS_COLUMNS = {
  headers: {
    ID: 'CONTAINER ID',
    Image: 'IMAGE',
    Command: 'COMMAND',
    CreatedAt: 'CREATED AT',
    RunningFor: 'CREATED',
    Ports: 'PORTS',
    State: 'STATE',
    Status: 'STATUS',
    Size: 'SIZE',
    Names: 'NAMES',
    Labels: 'LABELS',
    Mounts: 'MOUNTS',
    Networks: 'NETWORKS',
    LocalVolumes: 'LOCAL VOLUMES',
  },
  defaults: ['ID', 'Image', 'Command', 'RunningFor', 'Status', 'Ports', 'Names'],
};

interface PsOptions {
  all?: boolean;
  latest?: boolean;
  last?: number;
  quiet?: boolean;
  filter?: PsFilters;
  format?: string;
}

export function registerPs(program: Command, socketOf: SocketOf): void {
  program
    .command('ps')
    .description('list containers (running ones; -a all)')
    .option('-a, --all', 'show all containers')
    .option('-f, --filter <key=value>', 'only the containers that match (name, id, label, status, ancestor, exited); repeatable', psFilterArg)
    .option('--format <format>', 'table (the default), json, or a template: "{{.ID}} {{.Names}}", "table {{.ID}}\\t{{.Status}}"')
    .option('-n, --last <n>', 'the n last created containers (any state)', intArg({ min: 0 }))
    .option('-l, --latest', 'show the latest created container')
    .option('-q, --quiet', 'only ids')
    .action(async (o: PsOptions, cmd: Command) => {
      await withClient(await socketOf(cmd), async (client) => {
        const filters = o.filter ?? {};
        const ancestors = new Set<string>();
        for (const a of filters.ancestor ?? []) {
          const found = await client.image(a).catch(() => undefined);
          if (found) ancestors.add(found.id);
        }
        // Newest first; -n and -l take from all states, as docker's.
        let list = (await client.containers()).filter((c) => matchesPsFilters(c, filters, ancestors));
        if (o.latest) list = list.slice(0, 1);
        else if (o.last !== undefined) list = list.slice(0, o.last);
        else if (!o.all && filters.status === undefined && filters.exited === undefined) list = list.filter((c) => c.state === 'running');
        if (o.quiet) {
          process.stdout.write(list.map((c) => `${shortId(c.id)}\n`).join(''));
          return;
        }
        const argv = await commandLines(client, list);
        const now = Date.now();
        const rows = list.map((c, i) => psRow(c, argv[i]!, now));
        process.stdout.write(formatList(o.format, rows, PS_COLUMNS));
      });
    });
}

/** One container as docker ps's template and json see it: every value a string. */
function psRow(c: CliContainer, argv: string[], now: number): Record<string, string> {
  return {
    ID: shortId(c.id),
    Image: c.image,
    Command: quotedCommand(argv),
    CreatedAt: goTime(c.createdAt),
    RunningFor: `${humanDuration(now - c.createdAt)} ago`,
    Ports: c.ports.join(', '),
    State: c.state,
    Status: containerStatus(c, now),
    Size: '0B',
    Names: c.name,
    Labels: Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(','),
    Mounts: '',
    Networks: '',
    LocalVolumes: '0',
  };
}

/**
 * What each container runs, as docker ps's COMMAND: its own command and args over its image's
 * Entrypoint and Cmd (one ImageStatus an image). kubelet's containers carry no record of their
 * command that the CLI can read (CRI's status has none): theirs is left empty rather than
 * guessed from the image.
 */
async function commandLines(client: CliClient, list: CliContainer[]): Promise<string[][]> {
  const images = new Map<string, Promise<CliImage | undefined>>();
  const imageOf = (ref: string): Promise<CliImage | undefined> => {
    if (!images.has(ref)) images.set(ref, client.image(ref).catch(() => undefined));
    return images.get(ref)!;
  };
  return Promise.all(
    list.map(async (c) => {
      if (!c.cli) return [];
      if (c.command.length > 0) return [...c.command, ...c.args];
      return containerArgs((await imageOf(c.imageId || c.image)) ?? { entrypoint: [], cmd: [] }, c);
    }),
  );
}
