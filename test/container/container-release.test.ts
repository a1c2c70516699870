import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { mountinfo, podConfig, startContainer } from '../helpers/pods.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);

/**
 * A container lets go of its root mount, runc's container and its cgroups when it exits,
 * as containerd's shim deletes its task at exit; StopContainer returns once that is done,
 * and RemoveContainer drops the record at once and its files after the answer.
 */
describe('container/container-release: container release at exit', function () {
  this.timeout(60_000);
  const fx = busyboxRegistry('release/busybox');
  let d: TestDaemon;
  let pod: { id: string; config: ReturnType<typeof podConfig> };

  beforeEach(async () => {
    d = await startTestDaemon({ network: true, mirrors: { [fx.registry.host]: fx.registry.url } });
    await d.clients.image.PullImage({ image: { image: fx.image } });
    const config = podConfig('releasepod', { log_directory: join(d.dir, 'logs') });
    pod = { id: (await d.clients.runtime.RunPodSandbox({ config })).pod_sandbox_id, config };
  });

  const runcList = async (): Promise<string> => (await run('runc', [`--root=${join(d.state, 'runtime', 'runc')}`, 'list', '-q'])).stdout;
  const cgroupOf = (id: string): boolean => existsSync(join('/sys/fs/cgroup/memory/coracle', id));
  const held = async (id: string): Promise<string[]> => {
    const out: string[] = [];
    if ((await mountinfo()).includes(id)) out.push('root mount');
    if ((await runcList()).includes(id)) out.push('runc container');
    if (cgroupOf(id)) out.push('cgroup');
    return out;
  };

  it('a container that exits on its own lets go of its mount, runc state and cgroup without any call', async () => {
    const id = await startContainer(d.clients.runtime, pod, fx.image, 'quick', ['/bin/sh', '-c', 'exit 4']);
    await until('the exit to be released', async () => (await held(id)).length === 0);
    const s = (await d.clients.runtime.ContainerStatus({ container_id: id })).status!;
    assert.deepEqual([s.state, s.exit_code], ['CONTAINER_EXITED', 4], 'its status is kept');
    await d.clients.runtime.RemoveContainer({ container_id: id });
  });

  it('StopContainer returns with everything released; RemoveContainer returns with the record gone, its files after', async () => {
    const id = await startContainer(d.clients.runtime, pod, fx.image, 'sleeper', ['/bin/sh', '-c', "trap 'exit 0' TERM; echo ready; while true; do sleep 1 & wait $!; done"]);
    await until('the trap to be set', async () => (await run('cat', [join(d.dir, 'logs', 'sleeper.log')]).catch(() => ({ stdout: '' }))).stdout.includes('ready'));
    assert.deepEqual(await held(id), ['root mount', 'runc container', 'cgroup']);
    await d.clients.runtime.StopContainer({ container_id: id, timeout: 10 });
    assert.deepEqual(await held(id), [], 'released when StopContainer answers');
    const s = (await d.clients.runtime.ContainerStatus({ container_id: id })).status!;
    assert.deepEqual([s.state, s.exit_code, s.reason], ['CONTAINER_EXITED', 0, 'Completed'], 'stopped by its stop signal, not the SIGKILL');
    await d.clients.runtime.RemoveContainer({ container_id: id });
    assert.ok(!existsSync(join(d.root, 'containers', id)), 'no record when RemoveContainer answers');
    await until('its files to be removed', () => !existsSync(join(d.root, 'trash', 'container', id)) && !existsSync(join(d.state, 'containers', id)));
  });

  it('a dir left in the trash by a daemon killed after a removal is emptied at start', async () => {
    const left = join(d.root, 'trash', 'container', 'a'.repeat(64));
    await mkdir(join(left, 'upper', 'deep'), { recursive: true });
    await writeFile(join(left, 'upper', 'deep', 'file'), 'x');
    await d.stop();
    d = await startTestDaemon({ paths: d });
    assert.deepEqual(await readdir(join(d.root, 'trash', 'container')).catch(() => []), []);
  });
});
