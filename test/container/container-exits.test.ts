import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { podConfig } from '../helpers/pods.js';
import { until } from '../helpers/until.js';

/**
 * ListContainers reads exit files only where its one readdir of the exit dir finds one.
 * These check the guarantee that must keep: once conmon has written a container's exit
 * file, the very next list shows it EXITED (and its status the code), whether or not the
 * exit watcher acted on it. A container that exits at once does so, often, before
 * StartContainer has recorded it running, when the watcher's event finds it CREATED and
 * lets it go: the list has to see that exit by itself.
 */
describe('container/container-exits: an exit shows in the next list', function () {
  this.timeout(120_000);
  const fx = busyboxRegistry('exits/busybox');
  let d: TestDaemon;
  let pod: string;
  const sandbox = podConfig('exitpod');

  beforeEach(async () => {
    d = await startTestDaemon({ network: true, mirrors: { [fx.registry.host]: fx.registry.url } });
    await d.clients.image.PullImage({ image: { image: fx.image } });
    pod = (await d.clients.runtime.RunPodSandbox({ config: { ...sandbox, log_directory: join(d.dir, 'logs') } })).pod_sandbox_id;
  });

  async function start(name: string, command: string[]): Promise<string> {
    const config = { metadata: { name, attempt: 0 }, image: { image: fx.image }, command, log_path: `${name}.log` };
    const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config, sandbox_config: sandbox });
    await d.clients.runtime.StartContainer({ container_id: id });
    return id;
  }

  /** Until conmon has written the container's exit code (it may create the file first, empty). */
  const exitWritten = (id: string): Promise<void> =>
    until(`the exit file of ${id}`, async () => (await readFile(join(d.state, 'containers', 'exits', id), 'utf8').catch(() => '')).trim() !== '');

  async function listed(id: string, state?: 'CONTAINER_RUNNING' | 'CONTAINER_EXITED'): Promise<string | undefined> {
    const filter = state ? { state: { state } } : {};
    return (await d.clients.runtime.ListContainers({ filter })).containers.find((c) => c.id === id)?.state;
  }

  it('containers that exit at once: the first list after the exit file shows EXITED, the status its code', async () => {
    for (let i = 0; i < 6; i++) {
      const id = await start(`quick${i}`, ['/bin/sh', '-c', `exit ${20 + i}`]);
      await exitWritten(id);
      assert.equal(await listed(id), 'CONTAINER_EXITED', `container ${i} in the first list after its exit`);
      assert.equal(await listed(id, 'CONTAINER_RUNNING'), undefined);
      const s = (await d.clients.runtime.ContainerStatus({ container_id: id })).status!;
      assert.deepEqual([s.state, s.exit_code, s.reason], ['CONTAINER_EXITED', 20 + i, 'Error']);
      // Ended within a clock tick of its start, it still ends after it (the exit file's time is the kernel's coarse clock).
      assert.ok(BigInt(s.created_at) <= BigInt(s.started_at) && BigInt(s.started_at) <= BigInt(s.finished_at), `created ${s.created_at}, started ${s.started_at}, finished ${s.finished_at}`);
    }
  });

  it('a running container is listed RUNNING; killed from outside, it is EXITED 137 in the next list filtered by state', async () => {
    const id = await start('sleeper', ['/bin/sleep', '600']);
    assert.equal(await listed(id), 'CONTAINER_RUNNING');
    assert.equal(await listed(id, 'CONTAINER_EXITED'), undefined);
    const verbose = await d.clients.runtime.ContainerStatus({ container_id: id, verbose: true });
    const record = JSON.parse(verbose.info.info!) as { pid: number; createdAt: string; startedAt: string };
    // The int64 timestamps go out as two halves: the very nanoseconds of the record, in both calls.
    assert.deepEqual([verbose.status!.created_at, verbose.status!.started_at], [record.createdAt, record.startedAt]);
    assert.equal((await d.clients.runtime.ListContainers({})).containers.find((c) => c.id === id)?.created_at, record.createdAt);
    const pid = record.pid;
    process.kill(pid, 'SIGKILL');
    await exitWritten(id);
    assert.equal(await listed(id, 'CONTAINER_EXITED'), 'CONTAINER_EXITED');
    const s = (await d.clients.runtime.ContainerStatus({ container_id: id })).status!;
    assert.deepEqual([s.state, s.exit_code], ['CONTAINER_EXITED', 137]);
  });
});
