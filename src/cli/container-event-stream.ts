import type * as grpc from '@grpc/grpc-js';
import type { ContainerEventResponse__Output } from '../generated/runtime/v1/ContainerEventResponse.js';
import type { RuntimeServiceClient } from '../generated/runtime/v1/RuntimeService.js';
import { loadCriProto } from '../cri/proto-clients.js';
import { CLI_LABEL, NAME_LABEL } from './cli-client.js';
import { channelOf, fromGrpc, type DaemonTarget } from './daemon-target.js';
import { cliNamespace } from './cli-namespace.js';

/** docker's names for CRI's container events. */
const ACTIONS: Record<string, CliEvent['action']> = {
  CONTAINER_CREATED_EVENT: 'create',
  CONTAINER_STARTED_EVENT: 'start',
  CONTAINER_STOPPED_EVENT: 'die',
  CONTAINER_DELETED_EVENT: 'destroy',
};

/** One container event, as the CLI shows it. */
export interface CliEvent {
  id: string;
  action: 'create' | 'start' | 'die' | 'destroy';
  /** Nanoseconds since the epoch. */
  at: bigint;
  image: string;
  name: string;
  /** With `die`: the container's exit code. */
  exitCode?: number;
}

/** What the CLI knows of a container to name it in an event after it is gone. */
export interface Known {
  image: string;
  name: string;
}

/**
 * The daemon's container events (CRI's GetContainerEvents) from now on, each to `onEvent`;
 * sandbox events are left out (CRI sends them on the same stream, with the pod's id). `known`
 * names the containers the stream's statuses do not (one deleted is in none); it learns
 * from each status it sees. Resolves when the stream ends (`close`, or the daemon), rejects
 * on the stream's error.
 */
export function watchContainerEvents(socket: DaemonTarget, known: Map<string, Known>, onEvent: (e: CliEvent) => void): { done: Promise<void>; ready: Promise<void>; close: () => void } {
  const ch = channelOf(socket);
  // In the CLI's namespace: only the CLI's containers' events come.
  const client = new (loadCriProto().runtime.v1.RuntimeService)(ch.target, ch.credentials, { interceptors: [cliNamespace] }) as RuntimeServiceClient;
  const call = client.GetContainerEvents({});
  let closed = false;
  // The daemon sends the headers once it has subscribed (cri/container-events.ts).
  const ready = new Promise<void>((resolve) => call.once('metadata', () => resolve()));
  const done = new Promise<void>((resolve, reject) => {
    call.on('data', (m: ContainerEventResponse__Output) => {
      for (const s of m.containers_statuses) {
        const cli = s.labels[CLI_LABEL] === 'true';
        known.set(s.id, { image: s.image?.image ?? '', name: (cli ? s.labels[NAME_LABEL] : undefined) ?? s.metadata?.name ?? '' });
      }
      const action = ACTIONS[m.container_event_type];
      if (!action || m.container_id === m.pod_sandbox_status?.id) return;
      const own = m.containers_statuses.find((s) => s.id === m.container_id);
      // A sandbox's own events carry no status of it among the containers': unknown ids are pods.
      const k = known.get(m.container_id);
      if (!k) return;
      onEvent({ id: m.container_id, action, at: BigInt(m.created_at), image: k.image, name: k.name, ...(action === 'die' && own ? { exitCode: own.exit_code } : {}) });
    });
    call.on('error', (err: grpc.ServiceError) => {
      client.close();
      if (closed) resolve();
      else reject(fromGrpc(err, ch.display));
    });
    call.on('end', () => {
      client.close();
      resolve();
    });
  });
  return {
    done,
    ready,
    close: () => {
      closed = true;
      call.cancel();
    },
  };
}

/** One container's exit as docker run waits for it: subscribed before the start, so a container removed as it exits (--rm) still has its code. */
export interface ExitWatch {
  /** The container to wait for: known once it is made (its `die` can come only after its start). */
  of(id: string): void;
  /** Its `die` event's exit code: one that came, or the next within `ms`; undefined if none comes (or the stream ended). */
  exitCode(ms: number): Promise<number | undefined>;
  close(): void;
}

/**
 * How long the daemon's word that it has subscribed (the stream's headers) is waited for. A
 * daemon older than that word sends its headers only with the first event, which may never
 * come: past this the run goes on without it (its exit code then from the container's status,
 * the stream's `die` only if it comes), rather than waiting forever before the start.
 */
export const SUBSCRIBED_WAIT_MS = 2000;

/**
 * Watches the CLI's container events until `close`; resolves once the daemon has subscribed,
 * or after `subscribedWaitMs` without its word (rejects when it cannot be reached).
 */
export async function watchExit(socket: DaemonTarget, subscribedWaitMs = SUBSCRIBED_WAIT_MS): Promise<ExitWatch> {
  let target: string | undefined;
  let code: number | undefined;
  let ended = false;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of waiters) w();
  };
  const w = watchContainerEvents(socket, new Map(), (e) => {
    if (e.action !== 'die' || e.id !== target || e.exitCode === undefined) return;
    code = e.exitCode;
    wake();
  });
  const over = w.done.finally(() => {
    ended = true;
    wake();
  });
  // A failure before the subscription is the run's (unreachable daemon); after it, no event comes.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, subscribedWaitMs)));
  try {
    await Promise.race([w.ready, over, late]);
  } finally {
    clearTimeout(timer);
  }
  over.catch(() => undefined);
  return {
    of: (id) => {
      target = id;
    },
    exitCode: (ms) =>
      new Promise((resolve) => {
        if (code !== undefined || ended) return resolve(code);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(done);
          resolve(code);
        };
        const timer = setTimeout(done, ms);
        waiters.add(done);
      }),
    close: () => w.close(),
  };
}
