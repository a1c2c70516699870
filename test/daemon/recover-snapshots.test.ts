import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { spawnCoracle, startTestDaemon, waitServing } from '../helpers/daemon.js';
import { mountinfo, podConfig, startContainer } from '../helpers/pods.js';
import { until } from '../helpers/until.js';
import { onCleanup } from '../helpers/cleanup.js';
import { unmount } from '../../src/util/mounts.js';

/**
 * Containers' snapshots as a starting daemon finds them. An upgrade from the layout before
 * the snapshotter kept containers' writable layers (the container's upper and work dirs in
 * its record's dir, its record at schema version 1) is made here from a container of today's,
 * while it runs: its dirs moved back to the old place and its record written as the old
 * version, with the daemon stopped. The next daemon adopts them into a snapshot; the
 * container goes on running, its files with it. And a snapshot whose container's record
 * cannot be read is no orphan: it is left alone.
 */
describe('daemon/recover: containers\' snapshots at start', function () {
  this.timeout(90_000);
  const fx = busyboxRegistry('snaprecover/busybox');
  const snapshotOf = (root: string, id: string): string => join(root, 'image', 'snapshots', 'active', createHash('sha256').update(`container/${id}`).digest('hex'));

  it('legacy layout: a running container keeps its files and its process; its record is saved in the new version; removal leaves nothing', async () => {
    const d = await startTestDaemon({ network: true, mirrors: { [fx.registry.host]: fx.registry.url } });
    await d.clients.image.PullImage({ image: { image: fx.image } });
    const cfg = podConfig('legacypod');
    const pod = (await d.clients.runtime.RunPodSandbox({ config: cfg })).pod_sandbox_id;
    const id = await startContainer(d.clients.runtime, { id: pod, config: cfg }, fx.image, 'old', ['/bin/sh', '-c', 'echo from-before > /kept; sleep 600']);
    const exec = async (cmd: string): Promise<string> => (await d.clients.runtime.ExecSync({ container_id: id, cmd: ['/bin/sh', '-c', cmd], timeout: 10 })).stdout.toString();
    await until('the file to be written', async () => (await exec('cat /kept 2>/dev/null || true')) === 'from-before\n');
    await d.stop();

    // The old layout: <root>/containers/<id>/{upper,work}, the record at version 1.
    const snapshot = snapshotOf(d.root, id);
    const recordDir = join(d.root, 'containers', id);
    await rename(join(snapshot, 'fs'), join(recordDir, 'upper'));
    await rename(join(snapshot, 'work'), join(recordDir, 'work'));
    await rm(snapshot, { recursive: true });
    const record = JSON.parse(await readFile(join(recordDir, 'container.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(record.schemaVersion, 2, 'written by this Coracle in the new version');
    await writeFile(join(recordDir, 'container.json'), JSON.stringify({ ...record, schemaVersion: 1 }));

    const again = spawnCoracle(['--config', d.configPath, 'serve']);
    await waitServing(again);
    assert.ok(again.lines.some((l) => l.includes('its writable layer adopted as a snapshot') && l.includes(id)), 'adoption logged');
    assert.equal((await d.clients.runtime.ContainerStatus({ container_id: id })).status!.state, 'CONTAINER_RUNNING');
    assert.ok(!existsSync(join(recordDir, 'upper')) && !existsSync(join(recordDir, 'work')), 'the old dirs moved');
    assert.equal(await readFile(join(snapshot, 'fs', 'kept'), 'utf8'), 'from-before\n', 'its file in the snapshot');
    assert.equal((JSON.parse(await readFile(join(recordDir, 'container.json'), 'utf8')) as { schemaVersion: number }).schemaVersion, 2);
    // Its overlay holds the dirs, not their paths: the process goes on, and writes land in the snapshot.
    assert.equal(await exec('cat /kept; echo after > /new'), 'from-before\n');
    assert.equal(await readFile(join(snapshot, 'fs', 'new'), 'utf8'), 'after\n');
    const stats = (await d.clients.runtime.ContainerStats({ container_id: id })).stats!;
    assert.ok(Number(stats.writable_layer?.inodes_used?.value ?? 0) >= 2, 'stats read the adopted layer');

    await d.clients.runtime.StopContainer({ container_id: id, timeout: 0 });
    await d.clients.runtime.RemoveContainer({ container_id: id });
    assert.ok(!existsSync(snapshot), 'its snapshot removed with it');
    assert.ok(!(await mountinfo()).includes(id), 'nothing mounted');
    await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: pod });
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod });
    await until('the snapshot trees to be deleted', async () => (await readdir(join(d.root, 'image', 'snapshots', 'active'))).length === 0);
    again.proc.kill('SIGTERM');
    await again.exited;
  });

  it('a container whose record was set aside keeps its snapshot; one of no record at all is collected', async () => {
    const d = await startTestDaemon({ network: true, mirrors: { [fx.registry.host]: fx.registry.url } });
    await d.clients.image.PullImage({ image: { image: fx.image } });
    const cfg = podConfig('asidepod');
    const pod = (await d.clients.runtime.RunPodSandbox({ config: cfg })).pod_sandbox_id;
    const create = async (name: string): Promise<string> =>
      (await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: { metadata: { name, attempt: 0 }, image: { image: fx.image }, command: ['/bin/true'] }, sandbox_config: cfg })).container_id;
    const [torn, lost] = [await create('torn'), await create('lost')];
    // Created: each has its root mounted and no process. The one set aside keeps its mount: undone here.
    onCleanup('unmount the root of the record set aside', () => unmount(join(d.state, 'containers', torn, 'rootfs'), 'test'));
    await d.stop();
    await writeFile(join(d.root, 'containers', torn, 'container.json'), '{"torn');
    await rm(join(d.root, 'containers', lost), { recursive: true });

    const again = spawnCoracle(['--config', d.configPath, 'serve']);
    await waitServing(again);
    assert.ok(again.lines.some((l) => l.includes('snapshot of a container whose record was set aside: left as it is') && l.includes(torn)));
    assert.ok(existsSync(join(snapshotOf(d.root, torn), 'info.json')), 'the set-aside container\'s snapshot is kept');
    assert.ok(again.lines.some((l) => l.includes('snapshot of no container: collected') && l.includes(lost)));
    await until('the orphan snapshot to be deleted', () => !existsSync(snapshotOf(d.root, lost)));
    assert.ok(!(await mountinfo()).includes(lost), 'the orphan\'s root unmounted');
    again.proc.kill('SIGTERM');
    await again.exited;
  });
});
