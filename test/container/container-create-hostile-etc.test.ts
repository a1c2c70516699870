import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerConfig } from '../../src/generated/runtime/v1/ContainerConfig.js';
import { onCleanup } from '../helpers/cleanup.js';
import { codeOf } from '../helpers/cri-client.js';
import { startTestDaemon, tempDir, type TestDaemon } from '../helpers/daemon.js';
import { buildImage, buildLayer, busyboxRootfsEntries, pushImage, type LayerEntry } from '../helpers/images.js';
import { podConfig } from '../helpers/pods.js';
import { startTestRegistry, type TestRegistry } from '../helpers/test-registry.js';

/**
 * Images whose /etc/passwd or /etc/group is hostile: a FIFO (which would block a reader
 * forever), a link to /dev/zero (endless), a link to a file of the host. CreateContainer
 * with a named user must fail at once with an error naming the file, and the daemon must
 * keep answering everything else.
 */
describe('container/container-create: hostile /etc/passwd and /etc/group in an image', function () {
  this.timeout(120_000);
  let registry: TestRegistry;
  let hostPasswd: string;
  const images: Record<string, string> = {};

  before(async () => {
    registry = await startTestRegistry({ scope: 'suite' });
    // A passwd file of the host, outside any root, naming a user no image has.
    hostPasswd = join(await tempDir('coracle-host-'), 'passwd');
    await writeFile(hostPasswd, 'hostonly:x:4242:4242::/:/bin/sh\n');
    const base = await buildLayer(await busyboxRootfsEntries());
    const variants: Record<string, LayerEntry[]> = {
      good: [],
      fifo: [{ type: 'fifo', path: 'etc/passwd' }],
      zero: [{ type: 'dir', path: 'dev' }, { type: 'char', path: 'dev/zero', major: 1, minor: 5 }, { type: 'symlink', path: 'etc/group', target: '/dev/zero' }],
      out: [{ type: 'symlink', path: 'etc/passwd', target: hostPasswd }],
      climb: [{ type: 'symlink', path: 'etc/passwd', target: `../../../../../../../..${hostPasswd}` }],
    };
    for (const [name, entries] of Object.entries(variants)) {
      const layers = entries.length ? [base, await buildLayer(entries)] : [base];
      await pushImage(registry.url, `hostile/${name}`, buildImage({ layers, config: { Env: ['PATH=/bin'], Cmd: ['sleep', '60'] } }), ['v1']);
      images[name] = `${registry.host}/hostile/${name}:v1`;
    }
  });
  after(async () => {
    await registry?.stop();
  });

  let d: TestDaemon;
  let pod: string;

  beforeEach(async () => {
    d = await startTestDaemon({ mirrors: { [registry.host]: registry.url } });
    for (const image of Object.values(images)) await d.clients.image.PullImage({ image: { image } });
    const config = podConfig('hostile', { linux: { security_context: { namespace_options: { network: 'NODE' } } } });
    pod = (await d.clients.runtime.RunPodSandbox({ config })).pod_sandbox_id;
    const clients = d.clients;
    onCleanup('remove the pods', async () => {
      for (const p of (await clients.runtime.ListPodSandbox({})).items) await clients.runtime.RemovePodSandbox({ pod_sandbox_id: p.id });
    });
  });

  const config = (name: string, image: string, username: string): ContainerConfig => ({
    metadata: { name, attempt: 0 },
    image: { image },
    linux: { security_context: { run_as_username: username } },
  });
  const create = (name: string, image: string, username = 'app') =>
    d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: config(name, image, username), sandbox_config: podConfig('hostile') });

  it('refuses a FIFO /etc/passwd at once, five at a time, and keeps answering', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => codeOf(create(`fifo${i}`, images['fifo']!))));
    for (const r of results) {
      assert.equal(r.code, grpc.status.FAILED_PRECONDITION);
      assert.match(r.details, /^container k8s_fifo\d_[^:]+: \/etc\/passwd in the image: not a regular file \(a FIFO\)$/);
    }
    // Calls that touch the disk still answer: nothing is stuck in the thread pool.
    assert.ok((await d.clients.runtime.Version({ version: 'v1' })).runtime_name);
    assert.equal((await d.clients.image.ListImages({})).images.length, Object.keys(images).length);
    const { container_id: ok } = await create('good', images['good']!);
    assert.ok((await d.clients.runtime.ContainerStatus({ container_id: ok })).status);
    // Nothing of the failed creates is left.
    assert.deepEqual((await d.clients.runtime.ListContainers({})).containers.map((c) => c.metadata?.name), ['good']);
  });

  it('refuses an /etc/group that leads to a device (a link to /dev/zero)', async () => {
    const r = await codeOf(create('zero', images['zero']!));
    assert.equal(r.code, grpc.status.FAILED_PRECONDITION);
    assert.match(r.details, /^container k8s_zero_[^:]+: \/etc\/group in the image: not a regular file \(a character device\)$/);
  });

  it("never reads the host's file through a link out of the root", async () => {
    for (const name of ['out', 'climb']) {
      // The link resolves inside the root, where there is no such file: no users at all.
      const r = await codeOf(create(name, images[name]!, 'hostonly'));
      assert.equal(r.code, grpc.status.INVALID_ARGUMENT);
      assert.match(r.details, new RegExp(`^container k8s_${name}_[^:]+: user "hostonly": not found in the image's /etc/passwd$`));
    }
  });
});
