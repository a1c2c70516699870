import { busyboxDaemon } from '../helpers/busybox-pod.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ContainerEventResponse__Output } from '../../src/generated/runtime/v1/ContainerEventResponse.js';
import { onCleanup } from '../helpers/cleanup.js';
import { podConfig, startContainer } from '../helpers/pods.js';

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
});
