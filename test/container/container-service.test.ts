import { busyboxPod, type BusyboxPod } from '../helpers/busybox-pod.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ContainerConfig } from '../../src/generated/runtime/v1/ContainerConfig.js';
import { codeOf } from '../helpers/cri-client.js';
import { spawnCoracle, waitServing, type TestDaemon } from '../helpers/daemon.js';
import { inNamespace, mountinfo, podConfig } from '../helpers/pods.js';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('container/container-service: containers', function () {
  this.timeout(60_000);
  const fx = busyboxRegistry('ctr/busybox', { config: { Env: ['PATH=/bin', 'FROM_IMAGE=1'], Cmd: ['sh'], WorkingDir: '/' } });

  let d: TestDaemon;
  let pod: string;
  let start: BusyboxPod['start'];
  let logDir: string;

  beforeEach(async () => {
    ({ d, pod, start } = await busyboxPod(fx, 'ctrpod'));
    logDir = join(d.dir, 'logs');
  });

  const config = (name: string, command: string[], over: Partial<ContainerConfig> = {}): ContainerConfig => ({
    metadata: { name, attempt: 0 },
    image: { image: fx.image },
    command,
    log_path: `${name}.log`,
    ...over,
  });

  async function runToExit(name: string, command: string[], over: Partial<ContainerConfig> = {}): Promise<{ id: string; log: string; exitCode: number; reason: string }> {
    const id = await start(name, command, over);
    for (let i = 0; i < 200; i++) {
      const s = (await d.clients.runtime.ContainerStatus({ container_id: id })).status!;
      if (s.state === 'CONTAINER_EXITED') {
        await sleep(50); // conmon flushes the log as the process ends
        const log = await readFile(join(logDir, `${name}.log`), 'utf8');
        return { id, log, exitCode: s.exit_code, reason: s.reason };
      }
      await sleep(25);
    }
    throw new Error(`${name} did not exit`);
  }

  /** The messages of a CRI log, without timestamps. */
  const lines = (log: string): string[] => log.trim().split('\n').map((l) => l.split(' ').slice(3).join(' '));

  it('runs a container to its exit: states, times, exit code and a CRI log', async () => {
    const { id, log, exitCode, reason } = await runToExit('exit3', ['/bin/sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(exitCode, 3);
    assert.equal(reason, 'Error');
    for (const line of log.trim().split('\n')) assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) (F|P) /);
    assert.deepEqual(log.trim().split('\n').map((l) => l.split(' ').slice(1).join(' ')).sort(), ['stderr F err', 'stdout F out']);
    const s = (await d.clients.runtime.ContainerStatus({ container_id: id })).status!;
    assert.ok(BigInt(s.created_at) <= BigInt(s.started_at) && BigInt(s.started_at) <= BigInt(s.finished_at));
    assert.equal(s.image?.image, fx.image);
    assert.ok(s.image_ref.includes('@sha256:'));
    assert.equal(s.log_path, join(logDir, 'exit3.log'));
    const ok = await runToExit('exit0', ['/bin/true']);
    assert.deepEqual([ok.exitCode, ok.reason], [0, 'Completed']);
    await d.clients.runtime.RemoveContainer({ container_id: id });
    await d.clients.runtime.RemoveContainer({ container_id: id });
    assert.equal((await codeOf(d.clients.runtime.ContainerStatus({ container_id: id }))).code, grpc.status.NOT_FOUND);
    assert.ok(!(await mountinfo()).includes(id), 'its root is unmounted');
  });

  it('splits a long line into partial log lines that join back to it', async () => {
    const { log, exitCode } = await runToExit('long', ['/bin/sh', '-c', "printf '%040000d\\n' 7"]);
    assert.equal(exitCode, 0, log);
    const parts = log.trim().split('\n').map((l) => l.split(' '));
    assert.ok(parts.length > 2, `${parts.length} parts`);
    assert.deepEqual(parts.map((p) => p[2]), [...Array(parts.length - 1).fill('P'), 'F']);
    for (const p of parts) assert.ok(p.slice(3).join(' ').length <= 16 * 1024, 'each part at most 16 KiB');
    assert.equal(parts.map((p) => p.slice(3).join(' ')).join(''), `${'0'.repeat(39999)}7`);
  });

  it('gives the process its env, user, groups, working dir and mounts', async () => {
    const host = join(d.dir, 'host-data');
    await mkdir(host);
    await writeFile(join(host, 'file'), 'from the host\n');
    // As lxcfs does: a host file over one of the /proc files runc allows (checkProcMount).
    await writeFile(join(host, 'uptime'), '12345.67 89.01\n');
    const { log, exitCode } = await runToExit('who', ['/bin/sh', '-c', 'id; pwd; echo "$FOO $FROM_IMAGE"; cat /data/file; touch /data/x 2>&1 || echo ro-mount; cat /etc/hostname; cat /proc/uptime'], {
      envs: [{ key: 'FOO', value: Buffer.from('bar') }],
      working_dir: '/tmp',
      mounts: [{ container_path: '/data', host_path: host, readonly: true }, { container_path: '/proc/uptime', host_path: join(host, 'uptime'), readonly: true }],
      linux: { security_context: { run_as_user: { value: 1000 }, supplemental_groups: [4242] } },
    });
    assert.equal(exitCode, 0, log);
    assert.deepEqual(lines(log), ['uid=1000(app) gid=1000(app) groups=2000(extra),4242', '/tmp', 'bar 1', 'from the host', `touch: /data/x: Read-only file system`, 'ro-mount', 'ctrpod', '12345.67 89.01']);
  });

  it('enforces a read-only root and dropped capabilities', async () => {
    const ro = await runToExit('ro', ['/bin/sh', '-c', 'touch /x'], { linux: { security_context: { readonly_rootfs: true } } });
    assert.notEqual(ro.exitCode, 0);
    assert.match(ro.log, /Read-only file system/);
    const caps = await runToExit('caps', ['/bin/grep', 'CapEff', '/proc/self/status'], { linux: { security_context: { capabilities: { drop_capabilities: ['ALL'] } } } });
    assert.deepEqual(lines(caps.log), ['CapEff:\t0000000000000000']);
    const def = await runToExit('defcaps', ['/bin/grep', 'CapEff', '/proc/self/status']);
    assert.deepEqual(lines(def.log), ['CapEff:\t00000000a80425fb']);
  });

  it('sees only its own processes, and the pod\'s network', async () => {
    const ps = await runToExit('ps', ['/bin/ps']);
    const procs = lines(ps.log).slice(1);
    assert.equal(procs.length, 1, ps.log);
    assert.match(procs[0]!, /^\s*1 .*ps$/);
    const mac = await runToExit('mac', ['/bin/cat', '/sys/class/net/eth0/address']);
    const info = JSON.parse((await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: pod, verbose: true })).info.info!) as { pins: { net: string } };
    // sysfs shows the netns of whoever mounted it: the host's, under nsenter; netlink does not.
    const link = await inNamespace('net', info.pins.net, ['ip', '-o', 'link', 'show', 'eth0']);
    assert.match(link, new RegExp(`link/ether ${lines(mac.log)[0]} `));
  });

  it('stops with the stop signal, and with SIGKILL after the timeout', async () => {
    const create = async (name: string, command: string[]): Promise<string> => {
      const id = await start(name, command);
      await sleep(200);
      return id;
    };
    const polite = await create('polite', ['/bin/sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done']);
    await d.clients.runtime.StopContainer({ container_id: polite, timeout: 10 });
    const p = (await d.clients.runtime.ContainerStatus({ container_id: polite })).status!;
    assert.deepEqual([p.state, p.exit_code, p.reason], ['CONTAINER_EXITED', 0, 'Completed']);
    const stubborn = await create('stubborn', ['/bin/sleep', '600']);
    const t = Date.now();
    await d.clients.runtime.StopContainer({ container_id: stubborn, timeout: 1 });
    assert.ok(Date.now() - t >= 900, 'waited for the timeout');
    const s = (await d.clients.runtime.ContainerStatus({ container_id: stubborn })).status!;
    assert.deepEqual([s.state, s.exit_code], ['CONTAINER_EXITED', 137]);
    await d.clients.runtime.StopContainer({ container_id: stubborn, timeout: 1 });
  });

  it('ExecSync: output, exit code, a timeout that leaves nothing running', async () => {
    const id = await start('exec', ['/bin/sleep', '600']);
    const r = await d.clients.runtime.ExecSync({ container_id: id, cmd: ['/bin/sh', '-c', 'echo out; echo err >&2; exit 4'], timeout: 10 });
    assert.deepEqual([r.stdout.toString(), r.stderr.toString(), r.exit_code], ['out\n', 'err\n', 4]);
    const big = await d.clients.runtime.ExecSync({ container_id: id, cmd: ['/bin/sh', '-c', 'head -c 3000000 /dev/zero'], timeout: 10 });
    assert.equal(big.stdout.length, 3_000_000);
    const t = Date.now();
    const err = await codeOf(d.clients.runtime.ExecSync({ container_id: id, cmd: ['/bin/sleep', '77'], timeout: 1 }, { deadline: Date.now() + 10_000 }));
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED, err.details);
    assert.ok(Date.now() - t < 5000);
    // Not even a zombie: the container's init (this sleep) would never reap one.
    const ps = await d.clients.runtime.ExecSync({ container_id: id, cmd: ['/bin/ps'], timeout: 10 });
    const sleeps = ps.stdout.toString().split('\n').filter((l) => l.includes('sleep'));
    assert.ok(sleeps.length === 1 && sleeps[0]!.endsWith('/bin/sleep 600'), ps.stdout.toString());
  });

  it('CheckpointContainer: checked, then refused with CRIU\'s own reason where it cannot run', async () => {
    const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: config('cp', ['sleep', '60']), sandbox_config: podConfig('ctrpod') });
    const rt = d.clients.runtime;
    assert.equal((await codeOf(rt.CheckpointContainer({ container_id: id, location: join(d.dir, 'cp.tar') }))).code, grpc.status.FAILED_PRECONDITION, 'not running');
    await rt.StartContainer({ container_id: id });
    assert.equal((await codeOf(rt.CheckpointContainer({ container_id: id, location: 'relative.tar' }))).code, grpc.status.INVALID_ARGUMENT);
    assert.equal((await codeOf(rt.CheckpointContainer({ container_id: 'nope', location: '/tmp/x.tar' }))).code, grpc.status.NOT_FOUND);
    const check = await run('criu', ['check']).then(() => 'usable', (err: { stderr: string }) => err.stderr);
    const r = await codeOf(rt.CheckpointContainer({ container_id: id, location: join(d.dir, 'cp.tar') }));
    if (check === 'usable') assert.equal(r.code, grpc.status.UNIMPLEMENTED, r.details);
    else {
      assert.equal(r.code, grpc.status.FAILED_PRECONDITION, r.details);
      assert.match(r.details, /^container [0-9a-f]{64}: checkpoint: CRIU cannot run on this host: criu check: /);
      assert.ok(check.includes(r.details.split('criu check: ')[1]!), `the reason is criu's own: ${r.details}`);
    }
    assert.equal((await rt.ContainerStatus({ container_id: id })).status!.state, 'CONTAINER_RUNNING');
  });

  it('ReopenContainerLog after kubelet renamed the log', async () => {
    const id = await start('rotate', ['/bin/sh', '-c', 'i=0; while true; do echo line $i; i=$((i+1)); sleep 0.05; done']);
    await sleep(300);
    const log = join(logDir, 'rotate.log');
    await rename(log, `${log}.1`);
    await d.clients.runtime.ReopenContainerLog({ container_id: id });
    await sleep(300);
    assert.match(await readFile(log, 'utf8'), /stdout F line \d+/);
    assert.match(await readFile(`${log}.1`, 'utf8'), /stdout F line 0\n/);
    await d.clients.runtime.StopContainer({ container_id: id, timeout: 0 });
    const err = await codeOf(d.clients.runtime.ReopenContainerLog({ container_id: id }));
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
  });

  it('a memory limit hit gives OOMKilled', async () => {
    // tmpfs pages are charged to the container's memory cgroup, and there is no swap.
    const r = await runToExit('oom', ['/bin/sh', '-c', 'head -c 60000000 /dev/zero > /dev/shm/fill; sleep 1'], {
      linux: { resources: { memory_limit_in_bytes: 16 * 1024 * 1024 } },
    });
    assert.equal(r.reason, 'OOMKilled', `exit ${r.exitCode}: ${r.log}`);
  });

  it('ContainerStats and ListContainerStats: cpu, memory, writable layer', async () => {
    const { container_id: id } = await d.clients.runtime.CreateContainer({
      pod_sandbox_id: pod,
      config: config('busy', ['/bin/sh', '-c', 'head -c 5000000 /dev/zero > /big; while true; do :; done'], { labels: { s: '1' } }),
      sandbox_config: podConfig('ctrpod'),
    });
    await d.clients.runtime.StartContainer({ container_id: id });
    await sleep(700);
    const s = (await d.clients.runtime.ContainerStats({ container_id: id })).stats!;
    assert.equal(s.attributes?.id, id);
    assert.ok(BigInt(s.cpu!.usage_core_nano_seconds!.value) > 100_000_000n, `cpu ${s.cpu!.usage_core_nano_seconds!.value}`);
    assert.ok(BigInt(s.memory!.working_set_bytes!.value) > 0n);
    assert.ok(Number(s.writable_layer!.used_bytes!.value) >= 5_000_000, `writable ${s.writable_layer!.used_bytes!.value}`);
    assert.ok(Number(s.writable_layer!.inodes_used!.value) >= 1);
    // A busy loop: close to a whole core between two readings (containerd's usage_nano_cores).
    assert.equal(s.cpu!.usage_nano_cores, null, 'a first reading has no rate');
    await sleep(300);
    const again = (await d.clients.runtime.ContainerStats({ container_id: id })).stats!;
    assert.ok(BigInt(again.cpu!.usage_nano_cores!.value) > 200_000_000n, `nanocores ${again.cpu!.usage_nano_cores?.value}`);
    const podStats = (await d.clients.runtime.PodSandboxStats({ pod_sandbox_id: pod })).stats!;
    assert.equal(podStats.attributes?.id, pod);
    assert.ok(BigInt(podStats.linux!.cpu!.usage_core_nano_seconds!.value) >= BigInt(s.cpu!.usage_core_nano_seconds!.value));
    assert.equal(podStats.linux!.network!.default_interface?.name, 'eth0');
    assert.ok(Number(podStats.linux!.process!.process_count!.value) >= 1);
    assert.deepEqual(podStats.linux!.containers.map((c) => c.attributes?.id), [id]);
    assert.deepEqual((await d.clients.runtime.ListPodSandboxStats({ filter: { id: pod } })).stats.map((p) => p.attributes?.id), [pod]);
    const list = await d.clients.runtime.ListContainerStats({ filter: { label_selector: { s: '1' } } });
    assert.deepEqual(list.stats.map((x) => x.attributes?.id), [id]);
    assert.deepEqual((await d.clients.runtime.ListContainerStats({ filter: { pod_sandbox_id: 'none' } })).stats, []);
  });

  it('a pod-wide pid namespace: containers see each other, with the pause process as pid 1', async () => {
    const sharedPod = (await d.clients.runtime.RunPodSandbox({
      config: podConfig('sharedpid', { log_directory: logDir, linux: { security_context: { namespace_options: { pid: 'POD', network: 'POD', ipc: 'POD' } } } }),
    })).pod_sandbox_id;
    const mk = async (name: string, command: string[]): Promise<string> => {
      const { container_id: id } = await d.clients.runtime.CreateContainer({
        pod_sandbox_id: sharedPod,
        config: config(name, command, { linux: { security_context: { namespace_options: { pid: 'POD' } } } }),
      });
      await d.clients.runtime.StartContainer({ container_id: id });
      return id;
    };
    const sleeper = await mk('sleeper', ['/bin/sleep', '600']);
    const looker = await mk('looker', ['/bin/sleep', '600']);
    const ps = (await d.clients.runtime.ExecSync({ container_id: looker, cmd: ['/bin/ps', '-o', 'pid,args'], timeout: 10 })).stdout.toString();
    assert.match(ps, /^\s*1 \/pause$/m, ps);
    assert.equal(ps.match(/sleep 600/g)?.length, 2, ps);
    // A container of a pod without one cannot ask for it.
    const err = await codeOf(d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: config('nopid', ['/bin/true'], { linux: { security_context: { namespace_options: { pid: 'POD' } } } }) }));
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
    await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: sharedPod });
    assert.equal((await d.clients.runtime.ContainerStatus({ container_id: sleeper })).status!.state, 'CONTAINER_EXITED');
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: sharedPod });
    assert.equal((await run('pgrep', ['-f', `conmon.*${sharedPod}`]).catch(() => ({ stdout: '' }))).stdout, '', 'no infra monitor left');
  });

  it('seccomp: RuntimeDefault and Localhost profiles filter, Unconfined and privileged do not', async () => {
    const profile = join(d.dir, 'no-chmod.json');
    await writeFile(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod', 'fchmodat', 'fchmodat2'], action: 'SCMP_ACT_ERRNO' }] }));
    const mode = async (name: string, seccomp: object | undefined, privileged = false): Promise<string> =>
      lines((await runToExit(name, ['/bin/grep', 'Seccomp:', '/proc/self/status'], { linux: { security_context: { privileged, ...(seccomp ? { seccomp } : {}) } } })).log)[0]!;
    assert.equal(await mode('default', { profile_type: 'RuntimeDefault' }), 'Seccomp:\t2');
    assert.equal(await mode('unconfined', { profile_type: 'Unconfined' }), 'Seccomp:\t0');
    assert.equal(await mode('nil', undefined), 'Seccomp:\t0');
    const chmod = await runToExit('nochmod', ['/bin/sh', '-c', 'touch /f; chmod 400 /f'], { linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: profile } } } });
    assert.notEqual(chmod.exitCode, 0);
    assert.match(chmod.log, /Operation not permitted/);
    const blocked = await runToExit('nomount', ['/bin/sh', '-c', 'unshare -m true || echo denied'], { linux: { security_context: { seccomp: { profile_type: 'RuntimeDefault' }, capabilities: { add_capabilities: ['SYS_ADMIN'] } } } });
    assert.ok(blocked.exitCode === 0 || /denied|not found|Operation not permitted/.test(blocked.log), blocked.log);
    const missing = await codeOf(d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: config('missing', ['/bin/true'], { linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: '/nonexistent/profile.json' } } } }) }));
    assert.equal(missing.code, grpc.status.INVALID_ARGUMENT);
  });

  it('a container of a host-network pod sees the host\'s links', async () => {
    const hostPod = (await d.clients.runtime.RunPodSandbox({
      config: podConfig('hostnet', { log_directory: logDir, linux: { security_context: { namespace_options: { network: 'NODE', ipc: 'POD', pid: 'CONTAINER' } } } }),
    })).pod_sandbox_id;
    const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: hostPod, config: config('links', ['/bin/ls', '/sys/class/net']) });
    await d.clients.runtime.StartContainer({ container_id: id });
    for (let i = 0; i < 100 && (await d.clients.runtime.ContainerStatus({ container_id: id })).status!.state !== 'CONTAINER_EXITED'; i++) await sleep(20);
    await sleep(50);
    const seen = lines(await readFile(join(logDir, 'links.log'), 'utf8')).sort();
    const host = (await readdir('/sys/class/net')).sort();
    assert.deepEqual(seen.filter((l) => host.includes(l)), seen, `all of ${seen} are host links`);
    assert.ok(seen.includes(d.bridge!), `the test's bridge ${d.bridge} is among them`);
  });

  it('UpdateContainerResources changes the limits of a running container', async () => {
    const { container_id: id } = await d.clients.runtime.CreateContainer({
      pod_sandbox_id: pod,
      config: config('limits', ['/bin/sleep', '600'], { linux: { resources: { memory_limit_in_bytes: 64 << 20, cpu_shares: 512 } } }),
    });
    await d.clients.runtime.StartContainer({ container_id: id });
    const read = async (file: string): Promise<string> => (await d.clients.runtime.ExecSync({ container_id: id, cmd: ['/bin/cat', file], timeout: 10 })).stdout.toString().trim();
    assert.equal(await read('/sys/fs/cgroup/memory/memory.limit_in_bytes'), String(64 << 20));
    assert.equal(await read('/sys/fs/cgroup/cpu/cpu.shares'), '512');
    await d.clients.runtime.UpdateContainerResources({ container_id: id, linux: { memory_limit_in_bytes: 32 << 20, cpu_shares: 256, cpu_quota: 50000, cpu_period: 100000 } });
    assert.equal(await read('/sys/fs/cgroup/memory/memory.limit_in_bytes'), String(32 << 20));
    assert.equal(await read('/sys/fs/cgroup/cpu/cpu.shares'), '256');
    assert.equal(await read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'), '50000');
  });

  it('50 containers created, started and removed: nothing leaked', async function () {
    this.timeout(180_000);
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: config(`many-${i}`, ['/bin/sleep', '600']) });
      await d.clients.runtime.StartContainer({ container_id: id });
      ids.push(id);
    }
    for (const id of ids) await d.clients.runtime.RemoveContainer({ container_id: id });
    assert.deepEqual((await d.clients.runtime.ListContainers({})).containers, []);
    const mi = await mountinfo();
    assert.ok(!ids.some((id) => mi.includes(id)), 'no root left mounted');
    assert.equal((await run('pgrep', ['-f', `conmon.*${d.state}`]).catch(() => ({ stdout: '' }))).stdout, '', 'no monitor left');
    assert.deepEqual(await readdir(join(d.root, 'containers')), []);
    const cgroups = await readdir('/sys/fs/cgroup/memory/coracle').catch(() => [] as string[]);
    assert.ok(!ids.some((id) => cgroups.includes(id)), 'no cgroup left');
  });

  it('two containers of a pod share /dev/shm and the network', async () => {
    const { container_id: writer } = await d.clients.runtime.CreateContainer({
      pod_sandbox_id: pod,
      config: config('writer', ['/bin/sh', '-c', 'echo shared > /dev/shm/note; sleep 600']),
    });
    await d.clients.runtime.StartContainer({ container_id: writer });
    await sleep(300);
    const reader = await runToExit('reader', ['/bin/sh', '-c', 'cat /dev/shm/note; cat /sys/class/net/eth0/address']);
    const mac = (await d.clients.runtime.ExecSync({ container_id: writer, cmd: ['/bin/cat', '/sys/class/net/eth0/address'], timeout: 10 })).stdout.toString().trim();
    assert.deepEqual(lines(reader.log), ['shared', mac]);
  });

  it('lists containers with filters', async () => {
    const a = (await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: config('a', ['/bin/true'], { labels: { k: 'a' } }), sandbox_config: podConfig('ctrpod') })).container_id;
    const b = await runToExit('b', ['/bin/true'], { labels: { k: 'b' } });
    const ids = async (filter: object): Promise<string[]> => (await d.clients.runtime.ListContainers({ filter })).containers.map((c) => c.id).sort();
    assert.deepEqual(await ids({}), [a, b.id].sort());
    assert.deepEqual(await ids({ state: { state: 'CONTAINER_CREATED' } }), [a]);
    assert.deepEqual(await ids({ state: { state: 'CONTAINER_EXITED' } }), [b.id]);
    assert.deepEqual(await ids({ label_selector: { k: 'b' } }), [b.id]);
    assert.deepEqual(await ids({ id: a.slice(0, 10) }), [a]);
    assert.deepEqual(await ids({ pod_sandbox_id: 'nope' }), []);
  });

  it('refuses what it cannot do: an unknown image, a stopped pod, a group without a user', async () => {
    const rro = await codeOf(d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: config('rro', ['/bin/true'], { mounts: [{ container_path: '/x', host_path: d.dir, readonly: true, recursive_read_only: true }] }) }));
    assert.equal(rro.code, grpc.status.INVALID_ARGUMENT);
    assert.match(rro.details, /recursive read-only mounts are not supported/);
    // Under /proc, off runc's allow-list: runc's refusal, named INVALID_ARGUMENT, when the
    // start makes the runtime's container (containerd's order).
    const { container_id: procId } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: config('inproc', ['/bin/true'], { mounts: [{ container_path: '/proc/sys/kernel/hostname', host_path: '/etc/hostname', readonly: true }] }) });
    const inProc = await codeOf(d.clients.runtime.StartContainer({ container_id: procId }));
    assert.equal(inProc.code, grpc.status.INVALID_ARGUMENT, inProc.details);
    assert.match(inProc.details, /cannot be mounted because it is inside \/proc/);
    const group = await codeOf(d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: config('g', ['/bin/true'], { linux: { security_context: { run_as_group: { value: 5 } } } }) }));
    assert.equal(group.code, grpc.status.INVALID_ARGUMENT);
    assert.match(group.details, /run_as_group needs run_as_user or run_as_username/);
    const err = await codeOf(d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: { ...config('x', ['/bin/true']), image: { image: `${fx.registry.host}/ctr/none:v1` } } }));
    assert.equal(err.code, grpc.status.NOT_FOUND);
    await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: pod });
    const stopped = await codeOf(d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: config('y', ['/bin/true']) }));
    assert.equal(stopped.code, grpc.status.FAILED_PRECONDITION);
  });

  it('kill -9 of the daemon: containers keep running, and an exit while it was down is reported right', async () => {
    const create = async (name: string, command: string[]): Promise<string> => {
      const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: config(name, command), sandbox_config: podConfig('ctrpod') });
      await d.clients.runtime.StartContainer({ container_id: id });
      return id;
    };
    const long = await create('long', ['/bin/sleep', '600']);
    const short = await create('short', ['/bin/sh', '-c', 'sleep 1; echo bye; exit 7']);
    d.proc.kill('SIGKILL');
    await d.exited;
    await sleep(1500);
    const again = spawnCoracle(['--config', d.configPath, 'serve']);
    await waitServing(again);
    const l = (await d.clients.runtime.ContainerStatus({ container_id: long })).status!;
    assert.equal(l.state, 'CONTAINER_RUNNING');
    const s = (await d.clients.runtime.ContainerStatus({ container_id: short })).status!;
    assert.deepEqual([s.state, s.exit_code, s.reason], ['CONTAINER_EXITED', 7, 'Error']);
    assert.match(await readFile(join(logDir, 'short.log'), 'utf8'), /stdout F bye/);
    // A container whose record is lost is collected at the next start: root, runtime, monitor.
    again.proc.kill('SIGKILL');
    await again.exited;
    await rm(join(d.root, 'containers', long), { recursive: true });
    const third = spawnCoracle(['--config', d.configPath, 'serve']);
    await waitServing(third);
    assert.ok(third.lines.some((l) => l.includes('container state of no container')));
    assert.ok(!(await mountinfo()).includes(long), 'its root is unmounted');
    for (let i = 0; i < 50 && (await run('pgrep', ['-f', `conmon.*${long}`]).then(() => true, () => false)); i++) await sleep(50);
    // Removing the pod takes its containers with it.
    await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: pod });
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod });
    assert.deepEqual((await d.clients.runtime.ListContainers({})).containers, []);
    assert.equal((await run('pgrep', ['-f', `conmon.*${long}`]).catch(() => ({ stdout: '' }))).stdout, '', 'no monitor left');
  });
});
