import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NATIVE_DIR } from '../../src/util/native.js';
import { onCleanup } from '../helpers/cleanup.js';
import { codeOf } from '../helpers/cri-client.js';
import { spawnCoracle, startTestDaemon, waitServing, type TestDaemon } from '../helpers/daemon.js';
import { inNamespace, links, mountinfo, podConfig } from '../helpers/pods.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);

interface Info {
  pins: { net?: string; ipc?: string; uts?: string };
}

async function info(d: TestDaemon, id: string): Promise<Info> {
  const s = await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: id, verbose: true });
  return JSON.parse(s.info.info!) as Info;
}

/** host-local's lease files of this daemon's network: one per address held. */
async function leases(d: TestDaemon): Promise<string[]> {
  const dir = join(d.root, 'cni', 'networks', 'coracle');
  return existsSync(dir) ? (await readdir(dir)).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n)) : [];
}

/** The real network helper, and a stand-in for it in the test's CNI bin dir, which the daemon looks in first. */
const REAL_HELPER = join(NATIVE_DIR, 'coracle-net');
async function standIn(d: TestDaemon, body: string): Promise<void> {
  await writeFile(join(d.cniBinDir, 'coracle-net'), `#!/bin/sh\n${body}\n`);
  await chmod(join(d.cniBinDir, 'coracle-net'), 0o755);
}

/** A pod's veth pair goes with its netns, which the kernel frees in the background. */
async function assertLinkGone(name: string): Promise<void> {
  await until(`link ${name} to be gone`, async () => !(await links()).includes(` ${name}@`));
}

async function assertNothingLeft(d: TestDaemon): Promise<void> {
  const mi = await mountinfo();
  assert.ok(!mi.includes(d.state), 'no pin of this daemon is mounted');
  assert.deepEqual(await leases(d), [], 'no address is held');
  assert.ok(!(await links()).includes(`master ${d.bridge} `), 'no veth is left on the bridge');
  assert.deepEqual(await readdir(join(d.root, 'sandboxes')), []);
  assert.deepEqual(await readdir(join(d.root, 'cni', 'results')).catch(() => []), []);
  const prefix = d.subnet!.replace('0/24', '');
  const nat = (await run('iptables', ['-t', 'nat', '-S'])).stdout;
  // A pod's: a rule for its address (the network's one masquerade for the subnet stays).
  assert.ok(!new RegExp(`-s ${prefix.replace(/\./g, '\\.')}\\d+/32`).test(nat) && !nat.includes(`--to-destination ${prefix}`), 'no NAT rule of a pod is left');
}

describe('sandbox/sandbox-service: pod sandboxes', function () {
  this.timeout(60_000);

  it('runs a pod: pinned namespaces, an IP from the pool, hostname, sysctls, DNS; stop and remove leave nothing', async () => {
    const d = await startTestDaemon({ network: true });
    const config = podConfig('web', {
      dns_config: { servers: ['10.0.0.10'], searches: ['test.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5'] },
      linux: { sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shmmni': '1234' } },
    });
    const { pod_sandbox_id: id } = await d.clients.runtime.RunPodSandbox({ config });
    const status = (await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: id })).status!;
    assert.equal(status.state, 'SANDBOX_READY');
    assert.ok(status.network!.ip.startsWith(d.subnet!.replace('0/24', '')), `${status.network!.ip} in ${d.subnet}`);
    assert.deepEqual(status.metadata, config.metadata);
    assert.deepEqual(status.labels, { app: 'web' });
    assert.ok(BigInt(status.created_at) > 0n);
    const { pins } = await info(d, id);
    assert.ok(pins.net && pins.ipc && pins.uts);
    const mi = await mountinfo();
    for (const pin of [pins.net, pins.ipc, pins.uts]) assert.ok(mi.includes(` ${pin} `), `${pin} is a mount`);
    assert.match(await inNamespace('net', pins.net, ['ip', '-4', '-o', 'addr', 'show', 'eth0']), new RegExp(` ${status.network!.ip.replace(/\./g, '\\.')}/24 `));
    assert.match(await inNamespace('net', pins.net, ['ip', '-o', 'link', 'show', 'lo']), /UP/);
    assert.equal((await inNamespace('uts', pins.uts, ['hostname'])).trim(), 'web');
    assert.equal((await inNamespace('net', pins.net, ['cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'])).trim(), '0');
    assert.equal((await inNamespace('ipc', pins.ipc, ['cat', '/proc/sys/kernel/shmmni'])).trim(), '1234');
    const dir = join(d.root, 'sandboxes', id);
    assert.equal(await readFile(join(dir, 'resolv.conf'), 'utf8'), 'search test.svc.cluster.local svc.cluster.local\nnameserver 10.0.0.10\noptions ndots:5\n');
    assert.equal(await readFile(join(dir, 'hostname'), 'utf8'), 'web\n');
    assert.match(await readFile(join(dir, 'hosts'), 'utf8'), new RegExp(`${status.network!.ip}\\tweb`));
    assert.equal((await leases(d)).length, 1);

    const again = await d.clients.runtime.RunPodSandbox({ config });
    assert.equal(again.pod_sandbox_id, id, 'a retried RunPodSandbox gets the same sandbox');

    await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: id });
    await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: id });
    assert.equal((await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: id })).status!.state, 'SANDBOX_NOTREADY');
    assert.deepEqual(await leases(d), [], 'stop released the address');
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: id });
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: id });
    assert.equal((await codeOf(d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: id }))).code, grpc.status.NOT_FOUND);
    await assertNothingLeft(d);
  });

  it('lists pods with filters: id prefix, state, labels', async () => {
    const d = await startTestDaemon({ network: true });
    const a = (await d.clients.runtime.RunPodSandbox({ config: podConfig('a') })).pod_sandbox_id;
    const b = (await d.clients.runtime.RunPodSandbox({ config: podConfig('b') })).pod_sandbox_id;
    await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: b });
    const ids = async (filter: object): Promise<string[]> => (await d.clients.runtime.ListPodSandbox({ filter })).items.map((i) => i.id).sort();
    assert.deepEqual(await ids({}), [a, b].sort());
    assert.deepEqual(await ids({ id: a.slice(0, 12) }), [a]);
    assert.deepEqual(await ids({ state: { state: 'SANDBOX_READY' } }), [a]);
    assert.deepEqual(await ids({ state: { state: 'SANDBOX_NOTREADY' } }), [b]);
    assert.deepEqual(await ids({ label_selector: { app: 'b' } }), [b]);
    assert.deepEqual(await ids({ label_selector: { app: 'nope' } }), []);
  });

  it('two pods reach each other over the bridge', async () => {
    const d = await startTestDaemon({ network: true });
    const a = (await d.clients.runtime.RunPodSandbox({ config: podConfig('ping-a') })).pod_sandbox_id;
    const b = (await d.clients.runtime.RunPodSandbox({ config: podConfig('ping-b') })).pod_sandbox_id;
    const ipB = (await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: b })).status!.network!.ip;
    const out = await inNamespace('net', (await info(d, a)).pins.net!, ['/bin/busybox', 'ping', '-c', '1', '-W', '3', ipB]);
    assert.match(out, /1 packets received/);
  });

  it('a hostPort reaches the pod from the host', async () => {
    const d = await startTestDaemon({ network: true });
    const hostPort = 20000 + Math.floor(Math.random() * 20000);
    const id = (await d.clients.runtime.RunPodSandbox({ config: podConfig('hp', { port_mappings: [{ protocol: 'TCP', container_port: 8080, host_port: hostPort }] }) })).pod_sandbox_id;
    const www = join(d.dir, 'www');
    await mkdir(www);
    await writeFile(join(www, 'index.html'), 'hello from the pod\n');
    const server = spawn('nsenter', [`--net=${(await info(d, id)).pins.net}`, '/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', www], { stdio: 'ignore' });
    onCleanup('stop httpd', () => server.kill('SIGKILL'));
    let body = '';
    for (let i = 0; i < 50 && !body; i++) {
      body = await fetch(`http://127.0.0.1:${hostPort}/`).then((r) => r.text(), () => '');
      if (!body) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(body, 'hello from the pod\n');
  });

  it('a host-network pod gets no network namespace of its own', async () => {
    const d = await startTestDaemon({ network: true });
    const config = podConfig('hostnet', { linux: { security_context: { namespace_options: { network: 'NODE', ipc: 'NODE', pid: 'CONTAINER' } } } });
    const id = (await d.clients.runtime.RunPodSandbox({ config })).pod_sandbox_id;
    const status = (await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: id })).status!;
    assert.equal(status.state, 'SANDBOX_READY');
    assert.equal(status.linux?.namespaces?.options?.network, 'NODE');
    assert.deepEqual((await info(d, id)).pins, {});
    assert.equal(await readFile(join(d.root, 'sandboxes', id, 'hosts'), 'utf8'), await readFile('/etc/hosts', 'utf8'));
    assert.deepEqual(await leases(d), []);
    const err = await codeOf(d.clients.runtime.RunPodSandbox({ config: podConfig('hostnet-sysctl', { linux: { sysctls: { 'net.ipv4.ip_forward': '1' }, security_context: { namespace_options: { network: 'NODE' } } } }) }));
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /sysctl net\.ipv4\.ip_forward: needs the pod's own net namespace, but the pod uses the host's/);
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: id });
  });

  it('refuses a sysctl that is not namespaced, leaving nothing', async () => {
    const d = await startTestDaemon({ network: true });
    const err = await codeOf(d.clients.runtime.RunPodSandbox({ config: podConfig('bad', { linux: { sysctls: { 'vm.swappiness': '1' } } }) }));
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /sysctl vm\.swappiness: not namespaced/);
    await assertNothingLeft(d);
  });

  it('the network helper fails after making the veth: the error names it, and nothing is left', async () => {
    const d = await startTestDaemon({ network: true });
    const made = join(d.dir, 'veth-made');
    // The real helper runs (address taken, veth made), then the stand-in fails as a broken one would.
    await standIn(d, `out=$(${REAL_HELPER} "$@") || { echo "$out"; exit 1; }\n[ "$1" = add ] || { echo "$out"; exit 0; }\necho "$7" > ${made}\necho '{"error":"coracle-net failed on cue","errno":5}'\nexit 1`);
    const err = await codeOf(d.clients.runtime.RunPodSandbox({ config: podConfig('fails') }));
    assert.equal(err.code, grpc.status.INTERNAL, err.details);
    assert.match(err.details, /CNI ADD coracle \(embedded\): coracle-net: coracle-net failed on cue/);
    await assertNothingLeft(d);
    await assertLinkGone((await readFile(made, 'utf8')).trim());
  });

  it('a CNI plugin of the chain fails after taking an address (portmap, for a hostPort): nothing is left', async () => {
    const d = await startTestDaemon({ network: true });
    await writeFile(join(d.cniBinDir, 'portmap'), '#!/bin/sh\nout=$(/usr/lib/cni/portmap) || { echo "$out"; exit 1; }\n[ "$CNI_COMMAND" = ADD ] || { echo "$out"; exit 0; }\necho \'{"cniVersion":"1.0.0","code":11,"msg":"portmap failed on cue"}\'\nexit 1\n');
    await chmod(join(d.cniBinDir, 'portmap'), 0o755);
    const hostPort = 20000 + Math.floor(Math.random() * 20000);
    const err = await codeOf(d.clients.runtime.RunPodSandbox({ config: podConfig('fails', { port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: hostPort }] }) }));
    assert.equal(err.code, grpc.status.INTERNAL, err.details);
    assert.match(err.details, /CNI ADD coracle: plugin portmap: portmap failed on cue/);
    await assertNothingLeft(d);
  });

  it('keeps every pod with its IP across a daemon restart', async () => {
    const d = await startTestDaemon({ network: true });
    const id = (await d.clients.runtime.RunPodSandbox({ config: podConfig('survivor') })).pod_sandbox_id;
    const ip = (await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: id })).status!.network!.ip;
    assert.deepEqual(await d.stop(), { code: 0, signal: null });
    const again = await startTestDaemon({ paths: d });
    const status = (await again.clients.runtime.PodSandboxStatus({ pod_sandbox_id: id })).status!;
    assert.equal(status.state, 'SANDBOX_READY');
    assert.equal(status.network!.ip, ip);
    assert.ok((await mountinfo()).includes(` ${(await info(again, id)).pins.net} `));
  });

  it('kill -9 in the middle of RunPodSandbox, then a restart: nothing leaked', async () => {
    const d = await startTestDaemon({ network: true });
    const marker = join(d.dir, 'veth-added');
    // ADD goes through, then the helper hangs: the daemon is killed while it waits.
    await standIn(d, `out=$(${REAL_HELPER} "$@"); rc=$?\nif [ "$1" = add ] && [ ! -e ${marker} ]; then echo "$$ $7" > ${marker}; sleep 60; fi\necho "$out"; exit $rc`);
    const pending = d.clients.runtime.RunPodSandbox({ config: podConfig('killed') }).catch((e: unknown) => e);
    await until('the helper to hang', () => existsSync(marker) && readFileSync(marker, 'utf8').endsWith('\n'));
    const [pid, veth] = readFileSync(marker, 'utf8').trim().split(' ');
    const helperPid = Number(pid);
    onCleanup('kill the hanging helper', () => {
      try {
        process.kill(helperPid, 'SIGKILL');
      } catch {
        // already gone
      }
    });
    assert.equal((await leases(d)).length, 1, 'the address was taken');
    assert.ok((await links()).includes(`${veth!}@`), 'the veth was made');
    d.proc.kill('SIGKILL');
    await d.exited;
    process.kill(helperPid, 'SIGKILL');
    await pending;
    const again = spawnCoracle(['--config', d.configPath, 'serve']);
    await waitServing(again);
    assert.ok(again.lines.some((l) => l.includes('left half made')), 'the restart found it');
    assert.deepEqual((await d.clients.runtime.ListPodSandbox({})).items, []);
    await assertNothingLeft(d);
    await assertLinkGone(veth!);
  });

  it('collects what belongs to no pod at start: pins, CNI attachments, address leases', async () => {
    const d = await startTestDaemon({ network: true });
    const id = (await d.clients.runtime.RunPodSandbox({ config: podConfig('orphan') })).pod_sandbox_id;
    d.proc.kill('SIGKILL');
    await d.exited;
    // The record lost, as if the disk had not kept it: pins, veth and lease remain.
    await rm(join(d.root, 'sandboxes', id), { recursive: true });
    assert.equal((await leases(d)).length, 1);
    const again = spawnCoracle(['--config', d.configPath, 'serve']);
    await waitServing(again);
    assert.ok(again.lines.some((l) => l.includes('pins of no sandbox')));
    await assertNothingLeft(d);
  });

  it('50 pods run then removed: nothing leaked', async function () {
    this.timeout(120_000);
    const d = await startTestDaemon({ network: true });
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) ids.push((await d.clients.runtime.RunPodSandbox({ config: podConfig(`many-${i}`) })).pod_sandbox_id);
    assert.equal(new Set(ids).size, 50);
    assert.equal((await leases(d)).length, 50);
    for (const id of ids) {
      await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: id });
      await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: id });
    }
    await assertNothingLeft(d);
  });
});
