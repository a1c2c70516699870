import { busyboxDaemon } from '../helpers/busybox-pod.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ContainerEventResponse__Output } from '../../src/generated/runtime/v1/ContainerEventResponse.js';
import winston from 'winston';
import { ContainerEvents } from '../../src/container/container-events.js';
import type { ContainerRecord } from '../../src/container/container-store.js';
import { getContainerEventsHandler } from '../../src/cri/container-events.js';
import type { CallContext } from '../../src/cri/wrap.js';
import type { SandboxRecord } from '../../src/sandbox/sandbox-store.js';
import { onCleanup } from '../helpers/cleanup.js';
import { containerRecord } from '../helpers/container-record.js';
import { podConfig, startContainer } from '../helpers/pods.js';

const exited = (id: string, sandboxId: string, exitCode: number): ContainerRecord =>
  containerRecord({ id, name: 'c', sandboxId, state: 'EXITED', labels: { 'io.coracle.cli': 'true' }, createdAt: '1000', startedAt: '2000', finishedAt: '3000', exitCode, reason: 'Error' });

describe('cri: GetContainerEvents', function () {
  this.timeout(60_000);
  const fx = busyboxRegistry('ev/busybox', { config: { Env: ['PATH=/bin'] } });

  it('streams sandbox and container events as they happen, with the pod\'s statuses; ends when the daemon stops', async () => {
    const d = await busyboxDaemon(fx);
    const events: ContainerEventResponse__Output[] = [];
    const stream = d.clients.rawRuntime.GetContainerEvents({});
    onCleanup('cancel the event stream', () => stream.cancel());
    stream.on('data', (e: ContainerEventResponse__Output) => events.push(e));
    const ended = new Promise<string>((resolve) => {
      stream.on('end', () => resolve('end'));
      stream.on('error', (err: Error) => resolve(`error: ${err.message}`));
    });
    const waitFor = async (n: number): Promise<void> => {
      for (let i = 0; i < 250 && events.length < n; i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(events.length >= n, `${events.length} events: ${events.map((e) => e.container_event_type).join(' ')}`);
    };
    await new Promise((r) => setTimeout(r, 200));

    const config = podConfig('evpod', { log_directory: join(d.dir, 'logs') });
    const pod = (await d.clients.runtime.RunPodSandbox({ config })).pod_sandbox_id;
    const ctr = await startContainer(d.clients.runtime, { id: pod, config }, fx.image, 'brief', ['sh', '-c', 'sleep 0.3; exit 4']);
    // Nobody asks for the container's status: its exit must be noticed on its own.
    await waitFor(5);
    await d.clients.runtime.RemoveContainer({ container_id: ctr });
    await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: pod });
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod });
    await waitFor(8);

    assert.deepEqual(
      events.map((e) => [e.container_id === pod ? 'pod' : e.container_id === ctr ? 'ctr' : e.container_id, e.container_event_type]),
      [
        ['pod', 'CONTAINER_CREATED_EVENT'],
        ['pod', 'CONTAINER_STARTED_EVENT'],
        ['ctr', 'CONTAINER_CREATED_EVENT'],
        ['ctr', 'CONTAINER_STARTED_EVENT'],
        ['ctr', 'CONTAINER_STOPPED_EVENT'],
        ['ctr', 'CONTAINER_DELETED_EVENT'],
        ['pod', 'CONTAINER_STOPPED_EVENT'],
        ['pod', 'CONTAINER_DELETED_EVENT'],
      ],
    );
    const stopped = events[4]!;
    assert.equal(stopped.pod_sandbox_status?.id, pod);
    assert.deepEqual(stopped.containers_statuses.map((s) => [s.id, s.state, s.exit_code]), [[ctr, 'CONTAINER_EXITED', 4]]);
    assert.ok(BigInt(stopped.created_at) >= BigInt(events[3]!.created_at));
    assert.equal(events[7]!.pod_sandbox_status, null, 'a removed pod has no status');

    const t = Date.now();
    await d.stop();
    assert.equal(await ended, 'end');
    assert.ok(Date.now() - t < 5_000, 'the stream does not hold the daemon up');
  });

  it("a STOPPED sent after its container was removed (run --rm) has the status it had when it stopped; one of a container still there has the statuses as they are", async () => {
    const events = new ContainerEvents();
    onCleanup('close the events', () => events.close());
    // The daemon's records: the handler reads them when it sends, as it does in the daemon.
    const containers = new Map<string, ContainerRecord>();
    const pods = new Map<string, SandboxRecord>();
    // Pods still being made: no pod status is sent, only the containers' (what is tested here).
    const pod = { id: 'p1', state: 'CREATING' } as unknown as SandboxRecord;
    pods.set(pod.id, pod);
    const handler = getContainerEventsHandler(
      events,
      { resolve: (id: string) => pods.get(id) },
      { list: (f: { sandboxId?: string } = {}) => Promise.resolve([...containers.values()].filter((c) => c.sandboxId === f.sandboxId)) },
    );
    // As the daemon's run --rm watcher: the container and its pod go in the publish's tick.
    events.subscribe(
      (e) => {
        if (e.type !== 'STOPPED' || e.id !== 'gone') return;
        containers.delete(e.id);
        pods.delete(e.sandboxId);
      },
      () => undefined,
    );
    const sent: ContainerEventResponse__Output[] = [];
    let release = (): void => undefined;
    const behind = new Promise<void>((r) => (release = r));
    const abort = new AbortController();
    onCleanup('end the stream', () => abort.abort());
    let subscribed = (): void => undefined;
    const ready = new Promise<void>((r) => (subscribed = r));
    const ctx: CallContext = { id: 't', log: winston.createLogger({ silent: true }), signal: abort.signal, namespace: 'k8s.io', metadata: () => undefined };
    const done = handler(
      {} as never,
      async (m) => {
        // The client is slow: nothing goes until it is released (all is published by then).
        await behind;
        sent.push(m as unknown as ContainerEventResponse__Output);
      },
      ctx,
      subscribed,
    );
    await ready;

    const kept = exited('kept', 'p2', 3);
    const pod2 = { id: 'p2', state: 'CREATING' } as unknown as SandboxRecord;
    pods.set(pod2.id, pod2);
    containers.set(kept.id, kept);
    const gone = exited('gone', 'p1', 9);
    containers.set(gone.id, gone);
    events.publish('gone', 'p1', 'STOPPED', 'k8s.io', gone);
    events.publish('kept', 'p2', 'STOPPED', 'k8s.io', kept);
    // Changed since its STOPPED (restarted): the status sent is the record's as it is.
    containers.set('kept', { ...kept, state: 'RUNNING', exitCode: 0 });
    events.publish('gone', 'p1', 'DELETED', 'k8s.io');
    assert.equal(containers.has('gone'), false, 'removed before the stream sent its STOPPED');
    release();
    for (let i = 0; i < 250 && sent.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    abort.abort();
    await done;

    assert.deepEqual(
      sent.map((m) => [m.container_id, m.container_event_type, m.containers_statuses.map((s) => [s.id, s.state, s.exit_code])]),
      [
        ['gone', 'CONTAINER_STOPPED_EVENT', [['gone', 'CONTAINER_EXITED', 9]]],
        ['kept', 'CONTAINER_STOPPED_EVENT', [['kept', 'CONTAINER_RUNNING', 0]]],
        ['gone', 'CONTAINER_DELETED_EVENT', []],
      ],
    );
  });
});
