import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { join } from 'node:path';
import { CLI_NAMESPACE } from '../../src/cli/cli-namespace.js';
import { commitContainer, containerLogs, containerTop, copyFromContainer, copyToContainer, restartContainer, signalContainer } from '../../src/cli/coracle-client.js';
import type { ContainerEventResponse__Output } from '../../src/generated/runtime/v1/ContainerEventResponse.js';
import { busyboxDaemon } from '../helpers/busybox-pod.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { onCleanup } from '../helpers/cleanup.js';
import { codeOf, criClients, type CriClients } from '../helpers/cri-client.js';
import { podConfig, startContainer } from '../helpers/pods.js';
import { until } from '../helpers/until.js';

/** CRI clients in `namespace` (none: kubelet's, no header), closed after the test. */
function clientsIn(socket: string, namespace: string): CriClients {
  const c = criClients(socket, namespace);
  onCleanup(`close the ${namespace} clients`, () => c.close());
  return c;
}

describe('cri: namespaces keep the CLI\'s pods and containers apart from kubelet\'s', function () {
  this.timeout(120_000);
  const fx = busyboxRegistry('ns/busybox', { config: { Env: ['PATH=/bin'] } });

  it('each namespace lists, finds and touches only its own; names are unique per namespace; a bad header is refused', async () => {
    const d = await busyboxDaemon(fx);
    const kube = d.clients;
    const cli = clientsIn(d.socket, CLI_NAMESPACE);
    // The same pod and container names in both: allowed, each in its namespace.
    const config = podConfig('twin', { log_directory: join(d.dir, 'logs') });
    const kPod = (await kube.runtime.RunPodSandbox({ config })).pod_sandbox_id;
    const cPod = (await cli.runtime.RunPodSandbox({ config })).pod_sandbox_id;
    assert.notEqual(kPod, cPod);
    const kCtr = await startContainer(kube.runtime, { id: kPod, config }, fx.image, 'app', ['sleep', '300']);
    const cCtr = await startContainer(cli.runtime, { id: cPod, config }, fx.image, 'app', ['sleep', '300']);
    assert.notEqual(kCtr, cCtr);

    const sides = [
      { who: 'kubelet (no header)', c: kube, pod: kPod, ctr: kCtr, theirPod: cPod, theirCtr: cCtr },
      { who: CLI_NAMESPACE, c: cli, pod: cPod, ctr: cCtr, theirPod: kPod, theirCtr: kCtr },
    ];
    for (const { who, c, pod, ctr, theirPod, theirCtr } of sides) {
      const r = c.runtime;
      assert.deepEqual((await r.ListPodSandbox({})).items.map((p) => p.id), [pod], `${who}: its pods`);
      assert.deepEqual((await r.ListPodSandbox({ filter: { id: theirPod.slice(0, 12) } })).items, [], `${who}: the other's pod by prefix`);
      assert.deepEqual((await r.ListContainers({})).containers.map((x) => x.id), [ctr], `${who}: its containers`);
      assert.deepEqual((await r.ListContainers({ filter: { pod_sandbox_id: theirPod } })).containers, [], `${who}: the other's pod's containers`);
      assert.deepEqual((await r.ListContainerStats({})).stats.map((s) => s.attributes?.id), [ctr], `${who}: container stats`);
      assert.deepEqual((await r.ListPodSandboxStats({})).stats.map((s) => s.attributes?.id), [pod], `${who}: pod stats`);
      const metrics = (await r.ListPodSandboxMetrics({})).pod_metrics.map((m) => m.pod_sandbox_id);
      assert.deepEqual(metrics, [pod], `${who}: pod metrics`);

      // The other's objects, by full id and by prefix: exactly as ids that do not exist.
      for (const id of [theirCtr, theirCtr.slice(0, 12)]) {
        const calls: [string, Promise<unknown>][] = [
          ['ContainerStatus', r.ContainerStatus({ container_id: id })],
          ['StartContainer', r.StartContainer({ container_id: id })],
          ['StopContainer', r.StopContainer({ container_id: id, timeout: 0 })],
          ['ExecSync', r.ExecSync({ container_id: id, cmd: ['true'], timeout: 5 })],
          ['Exec', r.Exec({ container_id: id, cmd: ['true'], stdout: true })],
          ['Attach', r.Attach({ container_id: id, stdout: true })],
          ['ContainerStats', r.ContainerStats({ container_id: id })],
          ['UpdateContainerResources', r.UpdateContainerResources({ container_id: id, linux: { cpu_shares: 512 } })],
          ['ReopenContainerLog', r.ReopenContainerLog({ container_id: id })],
        ];
        for (const [rpc, call] of calls) {
          const e = await codeOf(call);
          assert.equal(e.code, grpc.status.NOT_FOUND, `${who}: ${rpc} ${id}: ${e.details}`);
          assert.equal(e.details, `container ${id}: not found`, `${who}: ${rpc}: said as of an unknown id`);
        }
      }
      for (const id of [theirPod, theirPod.slice(0, 12)]) {
        const calls: [string, Promise<unknown>][] = [
          ['PodSandboxStatus', r.PodSandboxStatus({ pod_sandbox_id: id })],
          ['StopPodSandbox', r.StopPodSandbox({ pod_sandbox_id: id })],
          ['PortForward', r.PortForward({ pod_sandbox_id: id, port: [80] })],
          ['PodSandboxStats', r.PodSandboxStats({ pod_sandbox_id: id })],
        ];
        for (const [rpc, call] of calls) assert.equal((await codeOf(call)).code, grpc.status.NOT_FOUND, `${who}: ${rpc} ${id}`);
      }
      const into = await codeOf(startContainer(r, { id: theirPod, config }, fx.image, 'intruder', ['true']));
      assert.deepEqual([into.code, into.details], [grpc.status.NOT_FOUND, `sandbox ${theirPod}: not found`], `${who}: a create into the other's pod`);
      // Removals of an unknown id succeed (kubelet retries them): so do the other's, and do nothing.
      await r.RemoveContainer({ container_id: theirCtr });
      await r.RemovePodSandbox({ pod_sandbox_id: theirPod });
    }

    // Coracle's own container calls, as the CLI makes them (in its namespace): kubelet's is not there.
    for (const id of [kCtr, kCtr.slice(0, 12)]) {
      await assert.rejects(containerTop(d.socket, id), { code: 'NOT_FOUND' }, `top ${id}`);
      await assert.rejects(signalContainer(d.socket, id, 'TERM'), { code: 'NOT_FOUND' }, `signal ${id}`);
      await assert.rejects(restartContainer(d.socket, id), { code: 'NOT_FOUND' }, `restart ${id}`);
      await assert.rejects(commitContainer(d.socket, id, {}), { code: 'NOT_FOUND' }, `commit ${id}`);
      const drain = async (): Promise<void> => {
        for await (const chunk of copyFromContainer(d.socket, id, '/etc')) assert.fail(`cp from ${id}: ${chunk.length} bytes came`);
      };
      await assert.rejects(drain(), { code: 'NOT_FOUND' }, `cp from ${id}`);
      await assert.rejects(copyToContainer(d.socket, id, '/tmp', (async function* () {})()), { code: 'NOT_FOUND' }, `cp to ${id}`);
      const logs = async (): Promise<void> => {
        for await (const batch of containerLogs(d.socket, id, { follow: true })) assert.fail(`logs of ${id}: ${batch.length} lines came`);
      };
      await assert.rejects(logs(), { code: 'NOT_FOUND', message: new RegExp(`container ${id}: not found`) }, `logs of ${id}`);
    }
    assert.deepEqual((await containerTop(d.socket, cCtr.slice(0, 12))).map((p) => p.command), ['sleep 300'], 'the CLI\'s own is');

    // Everything is still there, as its owner sees it.
    for (const { who, c, pod, ctr } of sides) {
      assert.equal((await c.runtime.ContainerStatus({ container_id: ctr })).status?.state, 'CONTAINER_RUNNING', `${who}: its container runs on`);
      assert.equal((await c.runtime.PodSandboxStatus({ pod_sandbox_id: pod })).status?.state, 'SANDBOX_READY', `${who}: its pod is ready`);
      assert.equal((await c.runtime.ListContainers({})).containers.length, 1, `${who}: no intruder was made`);
    }
    // Images are shared: the CLI sees what kubelet pulled.
    assert.deepEqual((await cli.image.ImageStatus({ image: { image: fx.image } })).image?.id, (await kube.image.ImageStatus({ image: { image: fx.image } })).image?.id);

    // A header that names no namespace fails every call, even one that reads no object.
    for (const bad of ['Not_A/Namespace', '', '-dash', 'a'.repeat(64)]) {
      const b = clientsIn(d.socket, bad);
      const e = await codeOf(b.runtime.Version({}));
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT, `${JSON.stringify(bad)}: ${e.details}`);
      assert.match(e.details, /coracle-namespace .*: not a namespace name/);
      assert.equal((await codeOf(b.runtime.ListContainers({}))).code, grpc.status.INVALID_ARGUMENT);
    }

    for (const { c, pod } of sides) {
      await c.runtime.StopPodSandbox({ pod_sandbox_id: pod });
      await c.runtime.RemovePodSandbox({ pod_sandbox_id: pod });
    }
    assert.deepEqual((await kube.runtime.ListPodSandbox({})).items, []);
    assert.deepEqual((await cli.runtime.ListPodSandbox({})).items, []);
  });

  it('GetContainerEvents: each stream hears only its own namespace\'s pods and containers', async () => {
    const d = await busyboxDaemon(fx);
    const sides = [
      { who: 'kubelet', c: d.clients, heard: [] as ContainerEventResponse__Output[], ids: new Set<string>() },
      { who: CLI_NAMESPACE, c: clientsIn(d.socket, CLI_NAMESPACE), heard: [] as ContainerEventResponse__Output[], ids: new Set<string>() },
    ];
    for (const s of sides) {
      const stream = s.c.rawRuntime.GetContainerEvents({});
      onCleanup(`cancel the ${s.who} event stream`, () => stream.cancel());
      stream.on('data', (e: ContainerEventResponse__Output) => s.heard.push(e));
      stream.on('error', () => {});
      // A call after it on the same connection is served after it: once answered, the stream has subscribed.
      await s.c.runtime.Version({});
    }
    for (const s of sides) {
      const config = podConfig(`ev-${s.who.replace('.', '-')}`, { log_directory: join(d.dir, 'logs') });
      const pod = (await s.c.runtime.RunPodSandbox({ config })).pod_sandbox_id;
      const ctr = await startContainer(s.c.runtime, { id: pod, config }, fx.image, 'brief', ['true']);
      s.ids.add(pod).add(ctr);
      await s.c.runtime.StopPodSandbox({ pod_sandbox_id: pod });
      await s.c.runtime.RemovePodSandbox({ pod_sandbox_id: pod });
    }
    for (const s of sides) {
      const [pod] = [...s.ids];
      await until(`${s.who}: its pod's DELETED event`, () => s.heard.some((e) => e.container_id === pod && e.container_event_type === 'CONTAINER_DELETED_EVENT'));
    }
    for (const s of sides) {
      const strangers = s.heard.filter((e) => !s.ids.has(e.container_id));
      assert.deepEqual(strangers.map((e) => `${e.container_id} ${e.container_event_type}`), [], `${s.who}: heard only its own`);
      assert.deepEqual(new Set(s.heard.map((e) => e.container_id)), s.ids, `${s.who}: heard its pod and its container`);
      const statuses = s.heard.flatMap((e) => [e.pod_sandbox_status?.id, ...e.containers_statuses.map((x) => x.id)]).filter((x) => x !== undefined);
      assert.ok(statuses.every((id) => s.ids.has(id)), `${s.who}: the statuses sent are its own`);
    }
  });
});
