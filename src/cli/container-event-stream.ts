import type * as grpc from '@grpc/grpc-js';
import type { ContainerEventResponse__Output } from '../generated/runtime/v1/ContainerEventResponse.js';
import type { RuntimeServiceClient } from '../generated/runtime/v1/RuntimeService.js';
import { loadCriProto } from '../cri/proto.js';
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
export function watchContainerEvents(socket: DaemonTarget, known: Map<string, Known>, onEvent: (e: CliEvent) => void): { done: Promise<void>; close: () => void } {
  const ch = channelOf(socket);
  // In the CLI's namespace: only the CLI's containers' events come.
  const client = new (loadCriProto().runtime.v1.RuntimeService)(ch.target, ch.credentials, { interceptors: [cliNamespace] }) as RuntimeServiceClient;
  const call = client.GetContainerEvents({});
  let closed = false;
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
    close: () => {
      closed = true;
      call.cancel();
    },
  };
}
