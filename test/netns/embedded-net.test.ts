import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { masqueradeChain } from '../../src/netns/masquerade.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { inNamespace, links, podConfig, startContainer } from '../helpers/pods.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);

interface Cache {
  network: { plugins: { type: string }[] };
  result: { ips: { address: string }[]; interfaces: { name: string; mac: string }[] };
  embedded?: { hostVeth: string; portmap: boolean };
}

/**
 * The embedded pod network's fast path (src/netns/embedded-net.ts), end to end through the
 * socket: what pods see of it, and what it leaves on disk for host-local, the plugin chain
 * and a restarted daemon.
 */
describe('netns/embedded-net: the embedded pod network', function () {
  this.timeout(90_000);
  const fx = busyboxRegistry('net/busybox', { config: { Env: ['PATH=/bin'], Cmd: ['sh'], WorkingDir: '/' } });

  const leaseDir = (d: TestDaemon): string => join(d.root, 'cni', 'networks', 'coracle');
  const leases = async (d: TestDaemon): Promise<string[]> => (await readdir(leaseDir(d)).catch(() => [] as string[])).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n)).sort();
  const cacheFile = (d: TestDaemon, id: string): string => join(d.root, 'cni', 'results', `${id}-eth0.json`);
  const cache = async (d: TestDaemon, id: string): Promise<Cache> => JSON.parse(await readFile(cacheFile(d, id), 'utf8')) as Cache;
  const ipOf = async (d: TestDaemon, id: string): Promise<string> => (await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: id })).status!.network!.ip;
  const netnsOf = async (d: TestDaemon, id: string): Promise<string> => (JSON.parse((await d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: id, verbose: true })).info.info!) as { pins: { net: string } }).pins.net;
  const hostVeth = (id: string): string => `cor${id.slice(0, 12)}`;
  const gateway = (d: TestDaemon): string => d.subnet!.replace('0/24', '1');

  async function daemon(): Promise<TestDaemon> {
    const d = await startTestDaemon({ network: true, mirrors: { [fx.registry.host]: fx.registry.url } });
    await d.clients.image.PullImage({ image: { image: fx.image } });
    return d;
  }

  async function pod(d: TestDaemon, name: string, over: Parameters<typeof podConfig>[1] = {}): Promise<{ id: string; config: ReturnType<typeof podConfig> }> {
    const config = podConfig(name, { log_directory: join(d.dir, 'logs', name), ...over });
    return { id: (await d.clients.runtime.RunPodSandbox({ config })).pod_sandbox_id, config };
  }

  /** Runs `cmd` in container `id`; its stdout, or throws with what it printed. */
  async function exec(d: TestDaemon, id: string, cmd: string[]): Promise<string> {
    const r = await d.clients.runtime.ExecSync({ container_id: id, cmd, timeout: 10 });
    if (r.exit_code !== 0) throw new Error(`${cmd.join(' ')}: exit ${r.exit_code}: ${r.stdout.toString()}${r.stderr.toString()}`);
    return r.stdout.toString();
  }

  /** An HTTP server on :8080 in the pod, answering `body`. */
  const server = (body: string): string[] => ['/bin/sh', '-c', `/bin/busybox mkdir -p /tmp/w && echo ${body} > /tmp/w/index.html && exec httpd -f -p 8080 -h /tmp/w`];

  async function assertTornDown(d: TestDaemon, ids: string[]): Promise<void> {
    assert.deepEqual(await leases(d), [], 'no address is held');
    assert.deepEqual(await readdir(join(d.root, 'cni', 'results')).catch(() => []), [], 'no cached result');
    assert.ok(!(await links()).includes(`master ${d.bridge} `), 'no veth is left on the bridge');
    // The pairs go with the pods' netns, which the kernel frees in the background.
    for (const id of ids) await until(`veth ${hostVeth(id)} to be gone`, async () => !(await links()).includes(` ${hostVeth(id)}@`));
  }

  it('two pods reach each other and the gateway from busybox inside them, keep their addresses across a restart, and are torn down', async () => {
    const d = await daemon();
    const a = await pod(d, 'net-a');
    const b = await pod(d, 'net-b');
    const [ipA, ipB] = [await ipOf(d, a.id), await ipOf(d, b.id)];
    assert.notEqual(ipA, ipB);
    assert.deepEqual(await leases(d), [ipA, ipB].sort());
    const client = await startContainer(d.clients.runtime, a, fx.image, 'client', ['/bin/sleep', '3600']);
    await startContainer(d.clients.runtime, b, fx.image, 'server', ['/bin/busybox', 'nc', '-ll', '-p', '8080', '-e', '/bin/echo', 'hello-from-b']);

    const reach = async (): Promise<void> => {
      assert.match(await exec(d, client, ['/bin/busybox', 'ping', '-c', '1', '-W', '5', gateway(d)]), /1 packets received/);
      assert.match(await exec(d, client, ['/bin/busybox', 'ping', '-c', '1', '-W', '5', ipB]), /1 packets received/);
      let body = '';
      let last = '';
      await until(() => `the server in pod b to answer (${last})`, async () => {
        body = await exec(d, client, ['/bin/busybox', 'nc', '-w', '3', ipB, '8080']).catch((err: unknown) => ((last = String(err)), ''));
        return body !== '';
      });
      assert.equal(body, 'hello-from-b\n');
    };
    await reach();
    // The pod's side is as the bridge plugin made it: the default route via the gateway.
    assert.match(await exec(d, client, ['/bin/busybox', 'ip', 'route']), new RegExp(`default via ${gateway(d).replace(/\./g, '\\.')} dev eth0`));
    // Hairpin on the pod's port, the one masquerade rule for the subnet.
    assert.equal((await readFile(`/sys/class/net/${hostVeth(a.id)}/brport/hairpin_mode`, 'utf8')).trim(), '1');
    await run('iptables', ['-t', 'nat', '-C', 'POSTROUTING', '-s', d.subnet!, '-m', 'comment', '--comment', `coracle masquerade ${d.bridge!}`, '-j', masqueradeChain(d.bridge!)]);

    assert.deepEqual(await d.stop(), { code: 0, signal: null });
    const again = await startTestDaemon({ paths: d });
    assert.equal(await ipOf(again, a.id), ipA);
    assert.equal(await ipOf(again, b.id), ipB);
    await reach();

    for (const p of [a, b]) await again.clients.runtime.StopPodSandbox({ pod_sandbox_id: p.id });
    assert.deepEqual(await leases(again), [], 'stop released both addresses');
    for (const p of [a, b]) await again.clients.runtime.RemovePodSandbox({ pod_sandbox_id: p.id });
    await assertTornDown(again, [a.id, b.id]);
  });

  it('leases are host-local\'s: the plugin skips and releases them, and the daemon skips the plugin\'s', async () => {
    const d = await daemon();
    const p1 = await pod(d, 'lease-1');
    const ip1 = await ipOf(d, p1.id);
    assert.equal(await readFile(join(leaseDir(d), ip1), 'utf8'), `${p1.id}\r\neth0`);
    assert.equal(await readFile(join(leaseDir(d), 'last_reserved_ip.0'), 'utf8'), ip1);
    assert.ok(existsSync(join(leaseDir(d), 'lock')));

    const hostLocal = async (command: 'ADD' | 'DEL', id: string): Promise<string> => {
      const conf = { cniVersion: '1.0.0', name: 'coracle', type: 'bridge', ipam: { type: 'host-local', ranges: [[{ subnet: d.subnet }]], dataDir: join(d.root, 'cni', 'networks') } };
      const child = execFile('/usr/lib/cni/host-local', [], {
        env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: '/nonexistent', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
      });
      child.stdin!.end(JSON.stringify(conf));
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.equal(code, 0, out);
      return out;
    };
    const other = 'f'.repeat(64);
    const byPlugin = (JSON.parse(await hostLocal('ADD', other)) as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
    const next = (ip: string): string => ip.replace(/\d+$/, (n) => String(Number(n) + 1));
    assert.equal(byPlugin, next(ip1), 'host-local read the lease and last_reserved_ip.0 the daemon wrote');
    const p2 = await pod(d, 'lease-2');
    assert.equal(await ipOf(d, p2.id), next(byPlugin), 'the daemon read the lease and last_reserved_ip.0 host-local wrote');

    await hostLocal('DEL', p1.id);
    assert.ok(!existsSync(join(leaseDir(d), ip1)), 'host-local released the daemon\'s lease by its container id');
    await hostLocal('DEL', other);
    for (const p of [p1, p2]) await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: p.id });
    await assertTornDown(d, [p1.id, p2.id]);
  });

  it('a hostPort goes through portmap, and only then: the cache says which pods had it', async () => {
    const d = await daemon();
    const hostPort = 20000 + Math.floor(Math.random() * 20000);
    const mapped = await pod(d, 'hp', { port_mappings: [{ protocol: 'TCP', container_port: 8080, host_port: hostPort, host_ip: '' }] });
    const plain = await pod(d, 'nohp');
    await startContainer(d.clients.runtime, mapped, fx.image, 'web', server('hello-through-portmap'));
    let body = '';
    await until('the pod to answer on the host port', async () => {
      body = await fetch(`http://127.0.0.1:${hostPort}/`).then((r) => r.text(), () => '');
      return body !== '';
    });
    assert.equal(body, 'hello-through-portmap\n');
    assert.deepEqual((await cache(d, mapped.id)).embedded, { hostVeth: hostVeth(mapped.id), portmap: true });
    assert.deepEqual((await cache(d, plain.id)).embedded, { hostVeth: hostVeth(plain.id), portmap: false });
    const ip = await ipOf(d, mapped.id);
    assert.ok((await run('iptables', ['-t', 'nat', '-S'])).stdout.includes(`--to-destination ${ip}:8080`), 'portmap\'s DNAT rule');

    await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: mapped.id });
    assert.ok(!(await run('iptables', ['-t', 'nat', '-S'])).stdout.includes(`--to-destination ${ip}:`), 'portmap\'s DEL ran');
    // Off the bridge and down at stop: the address may go to the next pod at once.
    const link = (await links()).split('\n').find((l) => l.includes(` ${hostVeth(mapped.id)}@`)) ?? '';
    assert.ok(!link.includes(`master ${d.bridge} `) && !/[<,]UP[,>]/.test(link), `stopped pod's veth detached: ${link}`);
    const reused = await pod(d, 'reuse');
    await until('the new pod to reach the gateway', async () => (await inNamespace('net', await netnsOf(d, reused.id), ['/bin/busybox', 'ping', '-c', '1', '-W', '2', gateway(d)]).catch(() => '')).includes('1 packets received'));
    for (const p of [mapped, plain, reused]) await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: p.id });
    await assertTornDown(d, [mapped.id, plain.id, reused.id]);
  });

  it('a pod whose cache says the plugin chain set it up is torn down by the plugin chain', async () => {
    const d = await daemon();
    const p = await pod(d, 'chain');
    const netns = await netnsOf(d, p.id);
    // As an earlier Coracle (or a downgrade) left it: the same network, no `embedded`.
    const { embedded, ...chainCache } = await cache(d, p.id);
    assert.ok(embedded);
    assert.deepEqual(chainCache.network.plugins.map((x) => x.type), ['bridge', 'portmap']);
    // No masquerade of its own for the bridge plugin's DEL to look for: the network has one.
    assert.equal((chainCache.network.plugins[0] as { ipMasq?: boolean }).ipMasq, false);
    await writeFile(cacheFile(d, p.id), JSON.stringify(chainCache));
    await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: p.id });
    // The bridge plugin's DEL deletes eth0 in the pod (the fast path's leaves it, cut off).
    assert.doesNotMatch(await inNamespace('net', netns, ['ip', '-o', 'link', 'show']), /eth0/);
    assert.deepEqual(await leases(d), []);
    await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: p.id });
    await assertTornDown(d, [p.id]);
  });
});
