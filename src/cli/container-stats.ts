import type { Command } from 'commander';
import { totalmem } from 'node:os';
import type * as grpc from '@grpc/grpc-js';
import type { RuntimeServiceClient } from '../generated/runtime/v1/RuntimeService.js';
import { loadCriProto } from '../cri/proto-clients.js';
import type { CliContainer } from './cli-client.js';
import { channelOf, fromGrpc, type DaemonTarget } from './daemon-target.js';
import { bytesSize, humanSize, shortId, table } from './format.js';
import { findContainer, withClient, type SocketOf } from './with-client.js';
import { cliNamespace } from './cli-namespace.js';

/** How often the live table is drawn, and how far apart --no-stream's two samples are (docker's one second). */
const INTERVAL_MS = 1_000;

/** One reading of a container's usage (CRI's ContainerStats and its pod's PodSandboxStats). */
export interface Sample {
  /** Nanoseconds, the CPU reading's own time. */
  at: bigint;
  cpuNanos: bigint;
  memory: number;
  memoryLimit: number;
  rx: number;
  tx: number;
  pids: number | undefined;
}

/** docker stats' row for a container from two samples (the CPU % over the time between them). */
export function statsRow(c: Pick<CliContainer, 'id' | 'name'>, before: Sample | undefined, now: Sample | undefined): string[] {
  if (!now) return [shortId(c.id), c.name, '--', '-- / --', '--', '--', '--', '--'];
  const wall = before ? Number(now.at - before.at) : 0;
  const cpu = before && wall > 0 ? (Number(now.cpuNanos - before.cpuNanos) / wall) * 100 : 0;
  const memPercent = now.memoryLimit > 0 ? (now.memory / now.memoryLimit) * 100 : 0;
  return [
    shortId(c.id),
    c.name,
    `${Math.max(cpu, 0).toFixed(2)}%`,
    `${bytesSize(now.memory)} / ${bytesSize(now.memoryLimit)}`,
    `${memPercent.toFixed(2)}%`,
    `${humanSize(now.rx)} / ${humanSize(now.tx)}`,
    // CRI reports no block I/O: shown as unknown rather than as none.
    '--',
    now.pids === undefined ? '--' : String(now.pids),
  ];
}

const HEADER = ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS'];

type Reader = (c: CliContainer) => Promise<Sample | undefined>;

/** Reads samples over one connection; a container gone or stopped reads as undefined. */
function sampler(socket: DaemonTarget): { read: Reader; close: () => void } {
  const ch = channelOf(socket);
  // In the CLI's namespace: only the CLI's containers are there.
  const rt = new (loadCriProto().runtime.v1.RuntimeService)(ch.target, ch.credentials, { interceptors: [cliNamespace] }) as RuntimeServiceClient;
  const call = <T>(method: string, req: unknown): Promise<T> =>
    new Promise((resolve, reject) => {
      const fn = (rt as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!;
      fn.call(rt, req, { deadline: Date.now() + 30_000 }, (err: grpc.ServiceError | null, res: T) => (err ? reject(fromGrpc(err, ch.display)) : resolve(res)));
    });
  type U = { value: string } | null | undefined;
  const n = (v: U): number => Number(v?.value ?? 0);
  const hostMemory = totalmem();
  const read: Reader = async (c) => {
    try {
      const [{ stats }, { status }, pod] = await Promise.all([
        call<{ stats: { cpu: { timestamp: string; usage_core_nano_seconds: U } | null; memory: { working_set_bytes: U } | null } | null }>('ContainerStats', { container_id: c.id }),
        call<{ status: { state: string; resources?: { linux?: { memory_limit_in_bytes?: string } | null } | null } | null }>('ContainerStatus', { container_id: c.id }),
        call<{ stats: { linux: { network: { default_interface: { rx_bytes: U; tx_bytes: U } | null } | null; process: { process_count: U } | null } | null } | null }>('PodSandboxStats', { pod_sandbox_id: c.podId }).catch(() => ({ stats: null })),
      ]);
      if (!stats?.cpu || status?.state !== 'CONTAINER_RUNNING') return undefined;
      const limit = Number(status.resources?.linux?.memory_limit_in_bytes ?? 0);
      const net = pod.stats?.linux?.network?.default_interface;
      const pids = pod.stats?.linux?.process?.process_count;
      return {
        at: BigInt(stats.cpu.timestamp),
        cpuNanos: BigInt(stats.cpu.usage_core_nano_seconds?.value ?? 0),
        memory: n(stats.memory?.working_set_bytes),
        // Unlimited: the host's memory, as docker shows it (the CLI's host; the daemon's when local).
        memoryLimit: limit > 0 ? limit : hostMemory,
        rx: n(net?.rx_bytes),
        tx: n(net?.tx_bytes),
        pids: pids ? n(pids) : undefined,
      };
    } catch {
      return undefined;
    }
  };
  return { read, close: () => rt.close() };
}

/**
 * docker stats: CPU %, memory, network and pids of running containers (all, or those
 * named), as a table redrawn every second until Ctrl+C; --no-stream prints it once, from
 * two samples a second apart (CPU % needs two).
 */
export function registerStats(program: Command, socketOf: SocketOf): void {
  program
    .command('stats')
    .description("containers' resource usage, live (every second) or once with --no-stream")
    .argument('[container...]')
    .option('-a, --all', 'all containers, not only running ones')
    .option('--no-stream', 'print one table and exit')
    .action(async (names: string[], o: { all?: boolean; stream: boolean }, cmd: Command) => {
      const socket = await socketOf(cmd);
      const s = sampler(socket);
      try {
        await withClient(socket, async (client) => {
          const list = names.length > 0 ? await Promise.all(names.map((n) => findContainer(client, n))) : (await client.containers()).filter((c) => o.all || c.state === 'running');
          const previous = new Map<string, Sample | undefined>();
          const sampleAll = async (): Promise<string[][]> => {
            const rows: string[][] = [];
            for (const c of list) {
              const now = await s.read(c);
              rows.push(statsRow(c, previous.get(c.id), now));
              previous.set(c.id, now);
            }
            return rows;
          };
          await sampleAll();
          let stop = false;
          let wake: () => void = () => undefined;
          const end = (): void => {
            stop = true;
            wake();
          };
          process.once('SIGINT', end);
          process.once('SIGTERM', end);
          try {
            for (;;) {
              await new Promise<void>((resolve) => {
                const timer = setTimeout(resolve, INTERVAL_MS);
                wake = () => {
                  clearTimeout(timer);
                  resolve();
                };
              });
              if (stop) return;
              const text = table(HEADER, await sampleAll());
              if (!o.stream) {
                process.stdout.write(text);
                return;
              }
              // Cleared and drawn from the top, as docker's live table.
              process.stdout.write(`\x1b[2J\x1b[H${text}`);
            }
          } finally {
            process.off('SIGINT', end);
            process.off('SIGTERM', end);
          }
        });
      } finally {
        s.close();
      }
    });
}
