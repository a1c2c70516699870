import { busyboxDaemon } from '../helpers/busybox-pod.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerConfig } from '../../src/generated/runtime/v1/ContainerConfig.js';
import type { LinuxContainerResources } from '../../src/generated/runtime/v1/LinuxContainerResources.js';
import { removeCgroupTree } from '../helpers/cgroups.js';
import { onCleanup } from '../helpers/cleanup.js';
import { codeOf } from '../helpers/cri-client.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { podConfig } from '../helpers/pods.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * What kubelet v1.26 sends in CreateContainer for a BestEffort container on a node with 2 MiB
 * and 1 GiB huge pages: a limit of 0 for each page size, whatever the pod asks for.
 */
const KUBELET_BESTEFFORT: LinuxContainerResources = {
  cpu_period: 0,
  cpu_quota: 0,
  cpu_shares: 2,
  memory_limit_in_bytes: 0,
  oom_score_adj: 1000,
  cpuset_cpus: '',
  cpuset_mems: '',
  hugepage_limits: [
    { page_size: '2MB', limit: 0 },
    { page_size: '1GB', limit: 0 },
  ],
  unified: {},
  memory_swap_limit_in_bytes: 0,
};

/** A Burstable one with a CPU and a memory limit (kubelet's shape for requests < limits). */
const KUBELET_BURSTABLE: LinuxContainerResources = {
  ...KUBELET_BESTEFFORT,
  cpu_period: 100000,
  cpu_quota: 50000,
  cpu_shares: 102,
  memory_limit_in_bytes: 128 << 20,
  oom_score_adj: 999,
};

describe('container/container-service: cgroups', function () {
  this.timeout(60_000);
  const fx = busyboxRegistry('cg/busybox', { config: { Env: ['PATH=/bin'], Cmd: ['sh'], WorkingDir: '/' } });

  let d: TestDaemon;
  let logDir: string;
  /** kubelet's cgroupfs layout, under a top-level dir of this test's own. */
  let top: string;

  beforeEach(async () => {
    d = await busyboxDaemon(fx);
    logDir = join(d.dir, 'logs');
    top = `/coracle-test-${process.pid}-${randomUUID().slice(0, 8)}`;
    // Registered after the daemon's own cleanup, so it runs first: the pods go, then the dirs.
    onCleanup(`remove cgroups under ${top}`, async () => {
      for (const pod of (await d.clients.runtime.ListPodSandbox({}).catch(() => ({ items: [] }))).items) {
        await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod.id }).catch(() => undefined);
      }
      await removeCgroupTree(top);
    });
  });

  async function kubeletPod(qos: 'besteffort' | 'burstable'): Promise<{ pod: string; parent: string }> {
    const uid = randomUUID();
    const parent = `${top}/kubepods/${qos}/pod${uid}`;
    const config = podConfig('cgpod', { log_directory: logDir, linux: { cgroup_parent: parent } });
    config.metadata!.uid = uid;
    return { pod: (await d.clients.runtime.RunPodSandbox({ config })).pod_sandbox_id, parent };
  }

  const config = (name: string, command: string[], resources: LinuxContainerResources): ContainerConfig => ({
    metadata: { name, attempt: 0 },
    image: { image: fx.image },
    command,
    log_path: `${name}.log`,
    linux: { resources },
  });

  async function waitExit(id: string): Promise<{ exitCode: number; log: string; lines: string[] }> {
    for (let i = 0; i < 400; i++) {
      const s = (await d.clients.runtime.ContainerStatus({ container_id: id })).status!;
      if (s.state === 'CONTAINER_EXITED') {
        await sleep(50);
        const log = await readFile(s.log_path, 'utf8').catch(() => '');
        return { exitCode: s.exit_code, log, lines: log.trim().split('\n').map((l) => l.split(' ').slice(3).join(' ')) };
      }
      await sleep(25);
    }
    throw new Error(`container ${id} did not exit`);
  }

  it("runs a container with kubelet's resources (hugepage limits of 0 for each page size) under a kubelet cgroupfs parent", async () => {
    const { pod, parent } = await kubeletPod('besteffort');
    const script = 'cat /proc/self/cgroup; echo oom=$(cat /proc/self/oom_score_adj)';
    const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: config('besteffort', ['/bin/sh', '-c', script], KUBELET_BESTEFFORT) });
    await d.clients.runtime.StartContainer({ container_id: id });
    const { exitCode, log, lines } = await waitExit(id);
    assert.equal(exitCode, 0, log);
    assert.ok(lines.includes('oom=1000'), log);
    // Its cgroup is the pod's parent and its own id, in every hierarchy runc placed it in.
    const cpu = lines.find((l) => /^\d+:(cpu|cpu,cpuacct|cpuacct,cpu):/.test(l)) ?? lines.find((l) => l.startsWith('0::'));
    assert.ok(cpu?.endsWith(`${parent}/${id}`), `cgroup of the container: ${cpu}\n${log}`);
    const skipped = d.lines.filter((l) => l.includes('resource left out') && l.includes(id));
    const cgroups = JSON.parse((await d.clients.runtime.Status({ verbose: true })).info.cgroups!) as { controllers: string[] };
    if (!cgroups.controllers.includes('hugetlb')) assert.ok(skipped.some((l) => l.includes('hugepageLimits')), `a debug line says hugepage limits were left out:\n${skipped.join('\n')}`);
  });

  it('a Burstable container with limits runs, its limits are set, and its stats are read', async () => {
    const { pod } = await kubeletPod('burstable');
    const { container_id: id } = await d.clients.runtime.CreateContainer({ pod_sandbox_id: pod, config: config('burstable', ['/bin/sleep', '600'], KUBELET_BURSTABLE) });
    await d.clients.runtime.StartContainer({ container_id: id });
    const read = async (file: string): Promise<string> => (await d.clients.runtime.ExecSync({ container_id: id, cmd: ['/bin/cat', file], timeout: 10 })).stdout.toString().trim();
    const info = JSON.parse((await d.clients.runtime.Status({ verbose: true })).info.cgroups!) as { layout: string };
    if (info.layout === 'unified') {
      assert.equal(await read('/sys/fs/cgroup/memory.max'), String(128 << 20));
      assert.equal(await read('/sys/fs/cgroup/cpu.max'), '50000 100000');
    } else {
      assert.equal(await read('/sys/fs/cgroup/memory/memory.limit_in_bytes'), String(128 << 20));
      assert.equal(await read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'), '50000');
      assert.equal(await read('/sys/fs/cgroup/cpu/cpu.shares'), '102');
    }
    // kubelet's cpu manager and resize send the same shape again.
    await d.clients.runtime.UpdateContainerResources({ container_id: id, linux: { ...KUBELET_BURSTABLE, memory_limit_in_bytes: 96 << 20 } });
    assert.equal(await read(info.layout === 'unified' ? '/sys/fs/cgroup/memory.max' : '/sys/fs/cgroup/memory/memory.limit_in_bytes'), String(96 << 20));
    const s = (await d.clients.runtime.ContainerStats({ container_id: id })).stats!;
    assert.ok(BigInt(s.memory!.usage_bytes!.value) > 0n, `memory ${s.memory!.usage_bytes!.value}`);
    assert.ok(BigInt(s.cpu!.usage_core_nano_seconds!.value) > 0n, `cpu ${s.cpu!.usage_core_nano_seconds!.value}`);
    await d.clients.runtime.StopContainer({ container_id: id, timeout: 0 });
  });

  it("refuses the systemd driver's slice parents, relative parents and parents with '..', leaving nothing", async () => {
    const uid = randomUUID();
    const slice = `kubepods-besteffort-pod${uid.replace(/-/g, '_')}.slice`;
    const refused = await codeOf(d.clients.runtime.RunPodSandbox({ config: podConfig('slice', { linux: { cgroup_parent: slice } }) }));
    assert.equal(refused.code, grpc.status.INVALID_ARGUMENT);
    assert.match(refused.details, new RegExp(`cgroup parent "${slice.replace(/\./g, '\\.')}" is a systemd slice`));
    assert.match(refused.details, /cgroupDriver: cgroupfs/);
    assert.match(refused.details, /--cgroup-driver=cgroupfs/);
    for (const bad of ['kubepods/besteffort/podx', '/kubepods/../../etc', '/kubepods/./x']) {
      const r = await codeOf(d.clients.runtime.RunPodSandbox({ config: podConfig('rel', { linux: { cgroup_parent: bad } }) }));
      assert.equal(r.code, grpc.status.INVALID_ARGUMENT, `${bad}: ${r.details}`);
      assert.ok(r.details.includes(JSON.stringify(bad)), r.details);
    }
    assert.deepEqual((await d.clients.runtime.ListPodSandbox({})).items, []);
  });
});
