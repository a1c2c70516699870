import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ContainerConfig } from '../../src/generated/runtime/v1/ContainerConfig.js';
import { RESTART_POLICY_ANNOTATION } from '../../src/container/restart-policy.js';
import { pinPidNamespace } from '../../src/sandbox/namespace-pins.js';
import { processStartTime } from '../../src/util/process-start-time.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { onCleanup } from '../helpers/cleanup.js';
import { codeOf } from '../helpers/cri-client.js';
import { startTestDaemon, tempDir, type TestDaemon } from '../helpers/daemon.js';
import { mountinfo, podConfig } from '../helpers/pods.js';
import { until } from '../helpers/until.js';
import { layerDirs } from '../helpers/snapshot-dirs.js';

const run = promisify(execFile);

/** Polls `check` until it holds; fails naming `what` after `ms`. */
/**
 * A runtime handler "gated": the real runc, except that `create` waits while GATE/hold
 * exists (after writing GATE/waiting), so a test can hold a StartContainer half-way, and
 * fails while GATE/fail exists, as a runtime that cannot make the container; `delete` waits
 * the same way while GATE/hold-delete exists (after writing GATE/waiting-delete).
 */
async function gatedRuntime(): Promise<{
  dir: string;
  extra: string;
  hold(): Promise<void>;
  open(): Promise<void>;
  waiting(): boolean;
  fail(): Promise<void>;
  holdDelete(): Promise<void>;
  openDelete(): Promise<void>;
  deleteWaiting(): boolean;
}> {
  const dir = await tempDir('coracle-gate-');
  const script = join(dir, 'runc-gated');
  await writeFile(
    script,
    `#!/bin/sh\nfor a in "$@"; do\n  if [ "$a" = create ] && [ -e ${dir}/fail ]; then\n    echo "runc create failed on cue" >&2\n    exit 1\n  fi\n  if [ "$a" = create ] && [ -e ${dir}/hold ]; then\n    echo $$ > ${dir}/waiting\n    while [ -e ${dir}/hold ]; do sleep 0.05; done\n  fi\n  if [ "$a" = delete ] && [ -e ${dir}/hold-delete ]; then\n    echo $$ > ${dir}/waiting-delete\n    while [ -e ${dir}/hold-delete ]; do sleep 0.05; done\n  fi\ndone\nexec /usr/sbin/runc "$@"\n`,
  );
  await chmod(script, 0o755);
  return {
    dir,
    extra: `[runtime.handlers.gated]\npath = ${JSON.stringify(script)}\n`,
    hold: async () => {
      await rm(join(dir, 'waiting'), { force: true });
      await writeFile(join(dir, 'hold'), '');
      onCleanup('open the runc gate', () => rm(join(dir, 'hold'), { force: true }));
    },
    open: () => rm(join(dir, 'hold'), { force: true }),
    fail: () => writeFile(join(dir, 'fail'), ''),
    waiting: () => existsSync(join(dir, 'waiting')),
    holdDelete: async () => {
      await rm(join(dir, 'waiting-delete'), { force: true });
      await writeFile(join(dir, 'hold-delete'), '');
      onCleanup('open the runc delete gate', () => rm(join(dir, 'hold-delete'), { force: true }));
    },
    openDelete: () => rm(join(dir, 'hold-delete'), { force: true }),
    deleteWaiting: () => existsSync(join(dir, 'waiting-delete')),
  };
}

describe('container/container-lifecycle: races', function () {
  this.timeout(90_000);
  const fx = busyboxRegistry('life/busybox', { config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });

  let d: TestDaemon;
  let gate: Awaited<ReturnType<typeof gatedRuntime>>;

  beforeEach(async () => {
    gate = await gatedRuntime();
    d = await startTestDaemon({ network: true, mirrors: { [fx.registry.host]: fx.registry.url }, extra: gate.extra });
    await d.clients.image.PullImage({ image: { image: fx.image } });
  });

  const ctr = (name: string, command: string[], over: Partial<ContainerConfig> = {}): ContainerConfig => ({ metadata: { name, attempt: 0 }, image: { image: fx.image }, command, ...over });
  const snapshots = async (): Promise<string[]> => layerDirs(d.root);
  const runcList = async (handler: string): Promise<string> => (await run('runc', [`--root=${join(d.state, 'runtime', handler)}`, 'list', '-q'])).stdout;

  async function waitExited(id: string): Promise<number> {
    let code = -1;
    await until(`container ${id} to exit`, async () => {
      const s = (await d.clients.runtime.ContainerStatus({ container_id: id })).status!;
      code = s.exit_code;
      return s.state === 'CONTAINER_EXITED';
    });
    return code;
  }

  it('RemoveImage while a StartContainer of it is half-way: the layers stay until the container is gone', async () => {
    const logDir = join(d.dir, 'logs');
    const pod = (await d.clients.runtime.RunPodSandbox({ config: podConfig('held', { log_directory: logDir }), runtime_handler: 'gated' })).pod_sandbox_id;
    const layers = await snapshots();
    assert.ok(layers.length > 0);
    const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: ctr('c', ['/bin/sh', '-c', 'echo ran from its layers; ls /bin/busybox'], { log_path: 'c.log' }), sandbox_config: podConfig('held') });
    await gate.hold();
    const starting = d.clients.runtime.StartContainer({ container_id: id }, { deadline: Date.now() + 60_000 });
    await until('runc create to be held', gate.waiting);
    // As containerd: the image record goes, the snapshots a container uses do not.
    await d.clients.image.RemoveImage({ image: { image: fx.image } });
    assert.equal((await d.clients.image.ImageStatus({ image: { image: fx.image } })).image, null);
    assert.deepEqual(await snapshots(), layers, 'no layer collected while the start holds it');
    await gate.open();
    await starting;
    assert.equal(await waitExited(id), 0);
    assert.match(await readFile(join(logDir, 'c.log'), 'utf8'), /ran from its layers[\s\S]*\/bin\/busybox/);
    assert.deepEqual(await snapshots(), layers, 'kept while the container exists');
    await d.clients.runtime.RemoveContainer({ container_id: id });
    assert.deepEqual(await snapshots(), [], 'collected once the container is removed');
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod });
  });

  it('RemovePodSandbox and StopContainer racing a StartContainer: the start finishes, then all is stopped and removed', async () => {
    const pod = (await d.clients.runtime.RunPodSandbox({ config: podConfig('racer'), runtime_handler: 'gated' })).pod_sandbox_id;
    const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: ctr('c', ['/bin/sleep', '60']), sandbox_config: podConfig('racer') });
    await gate.hold();
    const starting = d.clients.runtime.StartContainer({ container_id: id }, { deadline: Date.now() + 60_000 });
    await until('runc create to be held', gate.waiting);
    const again = d.clients.runtime.StartContainer({ container_id: id }, { deadline: Date.now() + 60_000 });
    const stopping = d.clients.runtime.StopContainer({ container_id: id, timeout: 0 }, { deadline: Date.now() + 60_000 });
    const removing = d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod }, { deadline: Date.now() + 60_000 });
    await gate.open();
    await Promise.all([starting, again]);
    await stopping;
    await removing;
    assert.deepEqual((await d.clients.runtime.ListContainers({})).containers, []);
    assert.deepEqual((await d.clients.runtime.ListPodSandbox({})).items, []);
    assert.equal(await runcList('gated'), '');
    assert.ok(!(await mountinfo()).includes(id), 'its root is unmounted');
  });

  it('RemoveContainer while a restart by its policy waits for the exit to be released: the container stays removed, nothing left running', async () => {
    const pod = (await d.clients.runtime.RunPodSandbox({ config: podConfig('policy'), runtime_handler: 'gated' })).pod_sandbox_id;
    // What `coracle run --restart always` makes: the CLI's label, the policy's annotation.
    const config = ctr('c', ['/bin/sh', '-c', 'exit 1'], { labels: { 'io.coracle.cli': 'true' }, annotations: { [RESTART_POLICY_ANNOTATION]: 'always' } });
    const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config, sandbox_config: podConfig('policy') });
    // Its exit's release (runc delete) is held, and the restart waits for it.
    await gate.holdDelete();
    await d.clients.runtime.StartContainer({ container_id: id });
    await until('the restart by its policy to wait behind the held runc delete', () => gate.deleteWaiting() && d.lines.some((l) => l.includes('restarting by its restart policy') && l.includes(id)));
    const from = d.lines.length;
    const removing = d.clients.runtime.RemoveContainer({ container_id: id }, { deadline: Date.now() + 60_000 });
    await gate.openDelete();
    await removing;
    // The restart ends one way or the other: refused (the removal began) or started, then stopped by the removal.
    await until('the restart to have ended', () => d.lines.slice(from).some((l) => (l.includes('restart by its restart policy failed') || l.includes('container started')) && l.includes(id)));
    assert.equal((await codeOf(d.clients.runtime.ContainerStatus({ container_id: id }))).code, grpc.status.NOT_FOUND, 'not saved back by the restart');
    assert.deepEqual((await d.clients.runtime.ListContainers({})).containers, []);
    assert.equal(await runcList('gated'), '');
    assert.ok(!(await mountinfo()).includes(id), 'its root is unmounted');
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod });
  });

  it('a runtime that fails to make the container: StartContainer fails, the container is EXITED StartError and holds nothing', async () => {
    const pod = (await d.clients.runtime.RunPodSandbox({ config: podConfig('failing'), runtime_handler: 'gated' })).pod_sandbox_id;
    const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: ctr('c', ['/bin/true']), sandbox_config: podConfig('failing') });
    await gate.fail();
    const failed = await codeOf(d.clients.runtime.StartContainer({ container_id: id }));
    assert.notEqual(failed.code, grpc.status.OK);
    assert.match(failed.details, new RegExp(`container ${id}: create: .*failed on cue`));
    const s = (await d.clients.runtime.ContainerStatus({ container_id: id })).status!;
    assert.deepEqual([s.state, s.exit_code, s.reason], ['CONTAINER_EXITED', 128, 'StartError']);
    assert.match(s.message, /failed on cue/);
    await until('its root to be released', async () => !(await mountinfo()).includes(id));
    assert.equal(await runcList('gated'), '');
    assert.equal((await codeOf(d.clients.runtime.StartContainer({ container_id: id }))).code, grpc.status.FAILED_PRECONDITION, 'not startable again: kubelet makes a new one');
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod });
  });

  it('kill -9 in the middle of StartContainer, then a restart: the half-made runtime container is undone and the start can be made again', async () => {
    const logDir = join(d.dir, 'logs');
    const pod = (await d.clients.runtime.RunPodSandbox({ config: podConfig('killed', { log_directory: logDir }), runtime_handler: 'gated' })).pod_sandbox_id;
    const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: ctr('c', ['/bin/sh', '-c', 'echo started; sleep 600'], { log_path: 'c.log' }), sandbox_config: podConfig('killed') });
    await gate.hold();
    void d.clients.runtime.StartContainer({ container_id: id }, { deadline: Date.now() + 60_000 }).catch(() => undefined);
    await until('runc create to be held', gate.waiting);
    d.proc.kill('SIGKILL');
    await d.exited;
    // The create goes on without the daemon: a runtime container and its monitor are left.
    await gate.open();
    await until('runc create to finish', async () => (await runcList('gated')).includes(id));
    d = await startTestDaemon({ paths: d });
    assert.equal(await runcList('gated'), '', 'the half-made runtime container is deleted at start');
    await until('its monitor to end', async () => !(await run('pgrep', ['-f', `conmon.*${id}`]).then(() => true, () => false)));
    assert.equal((await d.clients.runtime.ContainerStatus({ container_id: id })).status!.state, 'CONTAINER_CREATED');
    await d.clients.runtime.StartContainer({ container_id: id });
    await until('the container to run', async () => (await readFile(join(logDir, 'c.log'), 'utf8').catch(() => '')).includes('started'));
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod });
    assert.equal(await runcList('gated'), '');
    assert.ok(!(await mountinfo()).includes(id), 'its root is unmounted');
  });

  it('StartContainer and CreateContainer in a stopped pod are FAILED_PRECONDITION', async () => {
    const pod = (await d.clients.runtime.RunPodSandbox({ config: podConfig('stopped') })).pod_sandbox_id;
    const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: ctr('c', ['/bin/true']), sandbox_config: podConfig('stopped') });
    await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: pod });
    const start = await codeOf(d.clients.runtime.StartContainer({ container_id: id }));
    assert.equal(start.code, grpc.status.FAILED_PRECONDITION, start.details);
    const create = await codeOf(d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: ctr('late', ['/bin/true']), sandbox_config: podConfig('stopped') }));
    assert.equal(create.code, grpc.status.FAILED_PRECONDITION, create.details);
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod });
    assert.equal(await runcList('runc'), '');
  });

  it('pid POD: containers join the pinned namespace; the pause process ending makes the pod NOTREADY', async () => {
    const pidPod = (over: object = {}) => podConfig('pidpod', { linux: { security_context: { namespace_options: { pid: 'POD' } } }, ...over });
    const pod = (await d.clients.runtime.RunPodSandbox({ config: pidPod() })).pod_sandbox_id;
    const info = JSON.parse((await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: pod, verbose: true })).info.info!) as { infraPid: number; infraStartTime: string; pins: { pid: string } };
    assert.equal(await processStartTime(info.infraPid), info.infraStartTime);
    assert.ok((await mountinfo()).includes(` ${info.pins.pid} `), 'the pid namespace is pinned');
    const shared = { linux: { security_context: { namespace_options: { pid: 'POD' as const } } } };
    const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: ctr('c', ['/bin/sleep', '60'], shared), sandbox_config: pidPod() });
    const spec = JSON.parse(await readFile(join(d.state, 'containers', id, 'bundle', 'config.json'), 'utf8')) as { linux: { namespaces: { type: string; path?: string }[] } };
    assert.deepEqual(spec.linux.namespaces.find((n) => n.type === 'pid'), { type: 'pid', path: info.pins.pid }, 'joined by its pin, never /proc/PID');
    process.kill(info.infraPid, 'SIGKILL');
    await until('the pod to be NOTREADY', async () => (await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: pod })).status!.state === 'SANDBOX_NOTREADY');
    const late = await codeOf(d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: ctr('late', ['/bin/true'], shared), sandbox_config: pidPod() }));
    assert.equal(late.code, grpc.status.FAILED_PRECONDITION, late.details);
    assert.equal((await codeOf(d.clients.runtime.StartContainer({ container_id: id }))).code, grpc.status.FAILED_PRECONDITION);
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod });
    assert.ok(!(await mountinfo()).includes(` ${info.pins.pid} `), 'the pin is gone with the pod');
  });

  it('coracle-pinns pins a pid namespace only for the process that started at the time given', async () => {
    const dir = await tempDir('coracle-pidpin-');
    const proc = spawn('sleep', ['600'], { stdio: 'ignore' });
    onCleanup('kill sleep', () => proc.kill('SIGKILL'));
    const start = await processStartTime(proc.pid!);
    assert.ok(start);
    // Another process's start time: what a pid reused by a newer process would show.
    await assert.rejects(pinPidNamespace(dir, proc.pid!, String(Number(start) + 1), 'test'), /not the process that started at/);
    assert.deepEqual(await readdir(dir), []);
    const pin = await pinPidNamespace(dir, proc.pid!, start, 'test');
    onCleanup('unpin', () => run(join(process.cwd(), 'native/build/coracle-pinns'), ['-d', dir, '-r']));
    const [a, b] = await Promise.all([run('stat', ['-L', '-c', '%i', pin]), run('stat', ['-L', '-c', '%i', `/proc/${proc.pid}/ns/pid`])]);
    assert.equal(a.stdout, b.stdout);
  });
});
