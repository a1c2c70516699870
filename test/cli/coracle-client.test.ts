import assert from 'node:assert/strict';
import { join } from 'node:path';
import { containerTop, imageHistory } from '../../src/cli/coracle-client.js';
import { startTestDaemon } from '../helpers/daemon.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { podConfig } from '../helpers/pods.js';
import { CLI_NAMESPACE } from '../../src/cli/cli-namespace.js';
import { onCleanup } from '../helpers/cleanup.js';
import { criClients } from '../helpers/cri-client.js';

describe('cli/coracle-client: ImageHistory and ContainerTop', function () {
  this.timeout(60_000);
  const fx = busyboxRegistry('hist/busybox', {
    more: [[{ type: 'file', path: 'etc/motd', content: 'hello\n' }]],
    config: { Env: ['PATH=/bin'] },
    history: [{ created_by: 'ADD busybox /' }, { created_by: 'ENV PATH=/bin', empty_layer: true }, { created_by: 'COPY motd /etc/motd' }],
  });

  it('history lists the config\'s steps newest first, layers sized as unpacked; top lists a container\'s processes', async () => {
    const d = await startTestDaemon({ network: true, mirrors: { [fx.registry.host]: fx.registry.url } });
    const image = fx.image;
    await d.clients.image.PullImage({ image: { image } });

    const h = await imageHistory(d.socket, image);
    assert.deepEqual(
      h.map((e) => [e.id, e.createdBy, e.emptyLayer]),
      [
        [fx.built.configDigest, 'COPY motd /etc/motd', false],
        ['<missing>', 'ENV PATH=/bin', true],
        ['<missing>', 'ADD busybox /', false],
      ],
    );
    assert.ok(h[0]!.size >= 6 && h[0]!.size < 4096, `the motd layer: ${h[0]!.size} bytes`);
    assert.equal(h[1]!.size, 0);
    assert.ok(h[2]!.size > 500_000, `the busybox layer: ${h[2]!.size} bytes`);
    assert.equal(h[0]!.created, Date.parse('1970-01-01T00:00:00Z'));
    await assert.rejects(imageHistory(d.socket, 'nothing:here'), { code: 'NOT_FOUND' });

    const config = podConfig('toppod', { log_directory: join(d.dir, 'logs') });
    // In the CLI's namespace, as the CLI's own containers are: its client sees no other.
    const own = criClients(d.socket, CLI_NAMESPACE);
    onCleanup('close the CLI namespace clients', () => own.close());
    const pod = (await own.runtime.RunPodSandbox({ config })).pod_sandbox_id;
    const { container_id: id } = await own.runtime.CreateContainer({
      pod_sandbox_id: pod,
      config: { metadata: { name: 'top', attempt: 0 }, image: { image }, command: ['sh', '-c', 'sleep 321 & sleep 654; true'], log_path: 'top.log', linux: { security_context: { run_as_user: { value: 1000 } } } },
      sandbox_config: config,
    });
    await own.runtime.StartContainer({ container_id: id });
    await new Promise((r) => setTimeout(r, 300));
    const procs = await containerTop(d.socket, id.slice(0, 12));
    const status = await own.runtime.ContainerStatus({ container_id: id, verbose: true });
    const init = (JSON.parse(status.info.info!) as { pid: number }).pid;
    assert.deepEqual(procs.map((p) => p.command).sort(), ['sh -c sleep 321 & sleep 654; true', 'sleep 321', 'sleep 654']);
    assert.equal(procs.find((p) => p.command.startsWith('sh'))!.pid, init, 'host pids');
    for (const p of procs) {
      assert.match(p.time, /^\d\d:\d\d:\d\d$/);
      assert.ok(p.user === '1000' || p.user.length > 0);
    }
    assert.ok(procs.filter((p) => p.command.startsWith('sleep')).every((p) => p.ppid === init));
    await own.runtime.StopContainer({ container_id: id, timeout: 0 });
    await assert.rejects(containerTop(d.socket, id), { code: 'FAILED_PRECONDITION' });
  });
});
