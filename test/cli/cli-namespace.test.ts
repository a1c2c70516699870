import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { join } from 'node:path';
import { cliSuite } from '../helpers/cli.js';
import { codeOf } from '../helpers/cri-client.js';
import { podConfig, startContainer } from '../helpers/pods.js';

describe('cli/cli-namespace: the CLI\'s containers and kubelet\'s never meet', function () {
  this.timeout(120_000);
  const t = cliSuite();

  it('the CLI never lists nor matches kubelet\'s container, by name or id prefix; kubelet\'s calls never see the CLI\'s', async () => {
    const { d, cli, cliCri, image } = t;
    assert.equal((await cli('pull', image)).code, 0);
    // kubelet's container named as the CLI's will be, made through the socket without a header.
    // (Host network: this node has no cluster network, and Coracle's own is the CLI's.)
    const config = podConfig('web', { log_directory: join(d.dir, 'logs'), linux: { security_context: { namespace_options: { network: 'NODE' } } } });
    const kubePod = (await d.clients.runtime.RunPodSandbox({ config })).pod_sandbox_id;
    const kube = await startContainer(d.clients.runtime, { id: kubePod, config }, image, 'web', ['sleep', '300']);

    const run = await cli('run', '-d', '--name', 'web', image, 'sleep', '300');
    assert.equal(run.code, 0, `the name is free in the CLI's namespace: ${run.stderr}`);
    const mine = run.stdout.trim();
    assert.deepEqual((await cliCri.runtime.ListContainers({})).containers.map((c) => c.id), [mine]);

    const ps = (await cli('ps', '-a')).stdout;
    assert.equal(ps.split('\n').filter((l) => l.includes('web')).length, 1, ps);
    assert.ok(ps.includes(mine.slice(0, 12)) && !ps.includes(kube.slice(0, 12)), ps);
    // Every command that takes a container: kubelet's is no such container, by any prefix of its id.
    for (const ref of [kube, kube.slice(0, 4)]) {
      if (mine.startsWith(ref)) continue;
      for (const args of [['stop', '-t', '0', ref], ['rm', '-f', ref], ['exec', ref, 'true'], ['logs', ref], ['top', ref]]) {
        const r = await cli(...args);
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, /no such container/, args.join(' '));
      }
    }
    // The name means the CLI's own.
    assert.equal((await cli('exec', 'web', 'echo', 'mine')).stdout, 'mine\n');

    // crictl and kubelet (no header) see only kubelet's, and cannot touch the CLI's.
    assert.deepEqual((await d.clients.runtime.ListContainers({})).containers.map((c) => c.id), [kube]);
    assert.equal((await d.clients.runtime.ListPodSandbox({})).items.length, 1);
    for (const id of [mine, mine.slice(0, 12)]) {
      assert.equal((await codeOf(d.clients.runtime.ContainerStatus({ container_id: id }))).code, grpc.status.NOT_FOUND);
      assert.equal((await codeOf(d.clients.runtime.StopContainer({ container_id: id, timeout: 0 }))).code, grpc.status.NOT_FOUND);
      await d.clients.runtime.RemoveContainer({ container_id: id });
    }
    assert.match((await cli('ps')).stdout, /Up .*\s+web\n/, 'the CLI\'s runs on');

    // The CLI's rm takes its own and only its own.
    assert.equal((await cli('rm', '-f', 'web')).code, 0);
    assert.deepEqual((await cliCri.runtime.ListContainers({})).containers, []);
    assert.deepEqual((await cliCri.runtime.ListPodSandbox({})).items, [], 'its pod went with it');
    assert.equal((await d.clients.runtime.ContainerStatus({ container_id: kube })).status?.state, 'CONTAINER_RUNNING', 'kubelet\'s runs on');
  });
});
