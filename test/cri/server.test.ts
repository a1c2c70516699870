import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { codeOf } from '../helpers/cri-client.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

const CNI_PLUGINS = ['bridge', 'host-local', 'portmap', 'loopback'];

async function installCni(d: TestDaemon): Promise<void> {
  await mkdir(d.cniConfDir, { recursive: true });
  await mkdir(d.cniBinDir, { recursive: true });
  for (const p of CNI_PLUGINS) await writeFile(join(d.cniBinDir, p), '#!/bin/sh\n', { mode: 0o755 });
  await writeFile(
    join(d.cniConfDir, '05-test.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'testnet',
      plugins: [{ type: 'bridge', ipam: { type: 'host-local' } }, { type: 'portmap' }, { type: 'loopback' }],
    }),
  );
}

describe('cri/server: RuntimeService basics', function () {
  let d: TestDaemon;
  beforeEach(async () => {
    d = await startTestDaemon();
  });

  it('Version names coracle, its package version and API v1', async () => {
    const v = await d.clients.runtime.Version({ version: 'v1' });
    assert.deepEqual(v, {
      version: '0.1.0',
      runtime_name: 'coracle',
      runtime_version: '0.1.0',
      runtime_api_version: 'v1',
    });
  });

  it('Status: NetworkReady is false with a reason until a CNI config and its plugins exist', async () => {
    const before = await d.clients.runtime.Status({ verbose: false });
    const net = before.status!.conditions.find((c) => c.type === 'NetworkReady')!;
    assert.equal(net.status, false);
    assert.equal(net.reason, 'NetworkPluginNotReady');
    // Nothing is written into the cluster's conf dir: it is not ready until a config appears.
    assert.equal(net.message, `no usable CNI network config in ${d.cniConfDir}`);
    assert.deepEqual(before.info, {});

    await installCni(d);
    const after = await d.clients.runtime.Status({ verbose: true });
    const net2 = after.status!.conditions.find((c) => c.type === 'NetworkReady')!;
    assert.deepEqual(net2, { type: 'NetworkReady', status: true, reason: '', message: '' });
    const cni = JSON.parse(after.info.cni!) as { network: string; plugins: { type: string }[] };
    assert.equal(cni.network, 'testnet');
    assert.deepEqual(cni.plugins.map((p) => p.type), ['bridge', 'portmap', 'loopback']);
  });

  it('Status: RuntimeReady follows the default runtime binary and the dirs', async () => {
    const s = await d.clients.runtime.Status({ verbose: true });
    const rt = s.status!.conditions.find((c) => c.type === 'RuntimeReady')!;
    assert.deepEqual(rt, { type: 'RuntimeReady', status: true, reason: '', message: '' }, rt.message);
    const handlers = JSON.parse(s.info.runtimeHandlers!) as { default: string; handlers: { name: string; path?: string }[] };
    assert.equal(handlers.default, 'runc');
    assert.ok(handlers.handlers.find((h) => h.name === 'runc')?.path, 'runc resolved');
    assert.deepEqual(s.runtime_handlers.map((h) => h.name).slice(0, 1), ['']);
    const config = JSON.parse(s.info.config!) as { root: string };
    assert.equal(config.root, d.root);
  });

  it("Status verbose: the host's cgroup layout and the controllers runc can set limits with", async () => {
    const s = await d.clients.runtime.Status({ verbose: true });
    const cg = JSON.parse(s.info.cgroups!) as { layout: string; controllers: string[]; driver: string; cgroup2?: { mountpoint: string; usedForLimits: boolean } };
    // Worked out here from the mounts, the simple way, to check the daemon's reading.
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f.includes('-'))
      .map((f) => ({ at: f[4], fstype: f[f.indexOf('-') + 1], options: (f[f.indexOf('-') + 3] ?? '').split(',') }));
    const cgroup2At = (at: string): boolean => mounts.some((m) => m.at === at && m.fstype === 'cgroup2');
    const layout = cgroup2At('/sys/fs/cgroup') ? 'unified' : cgroup2At('/sys/fs/cgroup/unified') ? 'hybrid' : 'v1';
    assert.equal(cg.layout, layout);
    assert.equal(cg.driver, 'cgroupfs');
    for (const c of ['cpu', 'memory', 'pids']) assert.ok(cg.controllers.includes(c), `${c} in ${cg.controllers}`);
    const hugetlb =
      layout === 'unified'
        ? (await readFile('/sys/fs/cgroup/cgroup.controllers', 'utf8')).split(/\s+/).includes('hugetlb')
        : mounts.some((m) => m.fstype === 'cgroup' && m.options.includes('hugetlb'));
    assert.equal(cg.controllers.includes('hugetlb'), hugetlb, `hugetlb among ${cg.controllers}`);
    if (layout === 'hybrid') assert.deepEqual([cg.cgroup2?.mountpoint, cg.cgroup2?.usedForLimits], ['/sys/fs/cgroup/unified', false]);
  });

  it('RuntimeConfig reports the cgroupfs driver', async () => {
    const r = await d.clients.runtime.RuntimeConfig({});
    assert.deepEqual(r, { linux: { cgroup_driver: 'CGROUPFS' } });
  });

  it('UpdateRuntimeConfig records the pod CIDR; a bad one is INVALID_ARGUMENT', async () => {
    await d.clients.runtime.UpdateRuntimeConfig({ runtime_config: { network_config: { pod_cidr: '10.244.1.0/24,fd00:1::/64' } } });
    const s = await d.clients.runtime.Status({ verbose: true });
    assert.deepEqual(JSON.parse(s.info.podCIDR!), ['10.244.1.0/24', 'fd00:1::/64']);
    const err = await codeOf(d.clients.runtime.UpdateRuntimeConfig({ runtime_config: { network_config: { pod_cidr: '10.244.1.0' } } }));
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /pod CIDR: "10\.244\.1\.0" is not a CIDR/);
  });

  it('every RPC not yet built answers UNIMPLEMENTED with its name', async () => {
    const resources = await codeOf(d.clients.runtime.UpdatePodSandboxResources({ pod_sandbox_id: 'x' }));
    assert.deepEqual(resources, { code: grpc.status.UNIMPLEMENTED, details: 'RuntimeService/UpdatePodSandboxResources is not implemented by coracle yet' });
    const stream = await new Promise<grpc.ServiceError>((resolve, reject) => {
      const call = d.clients.rawRuntime.StreamPodSandboxMetrics({});
      call.on('data', () => reject(new Error('unexpected message')));
      call.on('error', resolve);
    });
    assert.equal(stream.code, grpc.status.UNIMPLEMENTED);
    assert.match(stream.details, /RuntimeService\/StreamPodSandboxMetrics/);
  });

  it('refuses a message over the 16 MiB limit', async () => {
    const big = 'x'.repeat(17 * 1024 * 1024);
    const err = await codeOf(d.clients.runtime.UpdateRuntimeConfig({ runtime_config: { network_config: { pod_cidr: big } } }));
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    // A message just under it is read (and then refused for what it says).
    const under = await codeOf(d.clients.runtime.UpdateRuntimeConfig({ runtime_config: { network_config: { pod_cidr: 'x'.repeat(15 * 1024 * 1024) } } }));
    assert.equal(under.code, grpc.status.INVALID_ARGUMENT);
  });
});

describe('cri/server: RuntimeReady without a runtime binary', () => {
  it('is false and names the handler and the binary', async () => {
    const d = await startTestDaemon({
      extra: '[runtime]\ndefault_handler = "ghost"\n[runtime.handlers.ghost]\npath = "/nonexistent/ghost-runtime"\n',
    });
    const s = await d.clients.runtime.Status({ verbose: false });
    const rt = s.status!.conditions.find((c) => c.type === 'RuntimeReady')!;
    assert.equal(rt.status, false);
    assert.equal(rt.reason, 'RuntimeNotReady');
    assert.match(rt.message, /default runtime handler ghost: OCI runtime "\/nonexistent\/ghost-runtime" not found/);
    assert.ok(!s.runtime_handlers.some((h) => h.name === 'ghost'), 'a missing handler is not advertised');
  });
});
