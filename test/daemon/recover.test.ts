import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BOOT_ID_FILE } from '../../src/daemon/recover.js';
import { processStartTime } from '../../src/util/process-start-time.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { spawnCoracle, startTestDaemon, waitServing } from '../helpers/daemon.js';
import { mountinfo, podConfig, startContainer } from '../helpers/pods.js';
import { until } from '../helpers/until.js';

const bootId = async (): Promise<string> => (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();

/**
 * A host restart, faked the one way the daemon can tell one: the boot id the last daemon
 * recorded under its root is not this boot's. Everything of before is then taken as gone;
 * here it still runs, so the recovery must also end it (as the reboot would have).
 */
describe('daemon/recover: what a daemon finds after the host restarted', function () {
  this.timeout(90_000);
  const fx = busyboxRegistry('recover/busybox');

  it('the boot id is recorded at every start; the same boot keeps running containers RUNNING', async () => {
    const d = await startTestDaemon({ network: true, mirrors: { [fx.registry.host]: fx.registry.url } });
    assert.equal((await readFile(join(d.root, BOOT_ID_FILE), 'utf8')).trim(), await bootId());
    await d.clients.image.PullImage({ image: { image: fx.image } });
    const cfg = podConfig('sameboot');
    const pod = (await d.clients.runtime.RunPodSandbox({ config: cfg })).pod_sandbox_id;
    const id = await startContainer(d.clients.runtime, { id: pod, config: cfg }, fx.image, 'long', ['/bin/sleep', '600']);
    d.proc.kill('SIGKILL');
    await d.exited;
    const again = spawnCoracle(['--config', d.configPath, 'serve']);
    await waitServing(again);
    assert.equal((await d.clients.runtime.ContainerStatus({ container_id: id })).status!.state, 'CONTAINER_RUNNING');
    assert.equal((await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: pod })).status!.state, 'SANDBOX_READY');
    await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: pod });
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod });
  });

  it('another boot: containers EXITED 255 Unknown with their processes and mounts gone, pods NOTREADY; then stopped and removed as any', async () => {
    const d = await startTestDaemon({ network: true, mirrors: { [fx.registry.host]: fx.registry.url } });
    await d.clients.image.PullImage({ image: { image: fx.image } });
    const cfg = podConfig('reboot');
    const pod = (await d.clients.runtime.RunPodSandbox({ config: cfg })).pod_sandbox_id;
    const id = await startContainer(d.clients.runtime, { id: pod, config: cfg }, fx.image, 'long', ['/bin/sleep', '600']);
    const info = JSON.parse((await d.clients.runtime.ContainerStatus({ container_id: id, verbose: true })).info.info!) as { pid: number };
    const started = await processStartTime(info.pid);
    assert.ok(started !== undefined, 'the container runs');
    d.proc.kill('SIGKILL');
    await d.exited;
    await writeFile(join(d.root, BOOT_ID_FILE), 'a boot before this one\n');
    const again = spawnCoracle(['--config', d.configPath, 'serve']);
    await waitServing(again);
    assert.ok(again.lines.some((l) => l.includes('the host restarted since the last daemon ran')));
    const s = (await d.clients.runtime.ContainerStatus({ container_id: id })).status!;
    assert.deepEqual([s.state, s.exit_code, s.reason], ['CONTAINER_EXITED', 255, 'Unknown']);
    assert.ok(BigInt(s.finished_at) >= BigInt(s.started_at));
    assert.equal((await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: pod })).status!.state, 'SANDBOX_NOTREADY');
    // What the reboot would have ended is ended: the process (by its start time, not a pid
    // that may be reused) and the container's root mount.
    await until('the container process to be gone', async () => (await processStartTime(info.pid)) !== started);
    await until('its root to be unmounted', async () => !(await mountinfo()).includes(id));
    assert.equal((await readFile(join(d.root, BOOT_ID_FILE), 'utf8')).trim(), await bootId(), 'this boot recorded');
    await d.clients.runtime.StopContainer({ container_id: id, timeout: 10 });
    await d.clients.runtime.RemoveContainer({ container_id: id });
    await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: pod });
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod });
    assert.deepEqual((await d.clients.runtime.ListContainers({})).containers, []);
    assert.deepEqual((await d.clients.runtime.ListPodSandbox({})).items, []);
  });
});
