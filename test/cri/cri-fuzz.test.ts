import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import type { ContainerConfig } from '../../src/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../../src/generated/runtime/v1/PodSandboxConfig.js';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { onCleanup } from '../helpers/cleanup.js';
import { removeCgroupTree } from '../helpers/cgroups.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { links, mountinfo } from '../helpers/pods.js';

const run = promisify(execFile);

/** Runs in CI: about a minute. By hand: CORACLE_FUZZ_RUNS=2000 (and a longer mocha timeout). */
const RUNS = Number(process.env.CORACLE_FUZZ_RUNS ?? 150);
const SEED = process.env.CORACLE_FUZZ_SEED ? Number(process.env.CORACLE_FUZZ_SEED) : undefined;

/** Codes a daemon may answer a hostile request with; UNKNOWN, INTERNAL from a bug, a hang or UNAVAILABLE are failures. */
const PROPER = new Set([grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND, grpc.status.FAILED_PRECONDITION, grpc.status.RESOURCE_EXHAUSTED, grpc.status.ALREADY_EXISTS, grpc.status.UNIMPLEMENTED, grpc.status.OUT_OF_RANGE, grpc.status.PERMISSION_DENIED]);
/** An INTERNAL is proper only when a tool refused the config (runc, conmon, a helper), never a thrown JS error. */
const TOOL_REFUSAL = /: (runc|conmon|coracle-[a-z]+|CNI [A-Z]+ [^:]+: plugin [a-z-]+): /;
const JS_ERROR = /TypeError|ReferenceError|RangeError|Cannot read propert|is not a function|undefined|\[object Object\]|NaN/;

const weird = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom('', '.', '..', '../..', '/', '//', 'a/b', '-', '\0', 'a\0b', '\n', 'x\nnameserver 1.2.3.4', '😀', '%s%n', '${x}', ' '),
  fc.string({ minLength: 1000, maxLength: 70_000 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
);
const name = fc.oneof({ arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), weight: 6 }, { arbitrary: weird, weight: 1 });
const int64 = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom(-1, 0, 1, 2 ** 31, 2 ** 31 - 1, 2 ** 53 - 1, -(2 ** 53)), fc.integer(), fc.constantFrom('9223372036854775807', '-9223372036854775808'));
const int32 = fc.oneof(fc.integer({ min: -5, max: 70_000 }), fc.constantFrom(-1, 2 ** 31 - 1, -(2 ** 31)));
const dict = (maxLength: number) => fc.oneof({ arbitrary: fc.constant({}), weight: 3 }, { arbitrary: fc.dictionary(weird, weird, { maxKeys: maxLength }), weight: 1 });

describe('cri: property-based requests against the real daemon', function () {
  const fx = busyboxRegistry('fuzz/busybox', { config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
  this.timeout(Math.max(120_000, RUNS * 3_000));

  it(`answers ${RUNS} runs of arbitrary pods and containers with proper codes, stays up, and leaves nothing`, async () => {
    const d: TestDaemon = await startTestDaemon({ network: true, mirrors: { [fx.registry.host]: fx.registry.url } });
    await d.clients.image.PullImage({ image: { image: fx.image } });
    // Host paths stay inside this base, whatever `..` they hold (at most 4 up): mounts of
    // missing dirs make them, and nothing may be made on the host outside the test.
    const base = join(d.dir, 'fz', 'a', 'b', 'c', 'd');
    await mkdir(base, { recursive: true });
    const cgroupTop = `coracle-fuzz-${process.pid}`;
    onCleanup('remove the fuzz cgroups', () => removeCgroupTree(`/${cgroupTop}`));
    const found = new Map<string, string>();
    const stats = { calls: 0, ok: 0, pods: 0, containers: 0, started: 0, codes: new Map<string, number>() };

    const hostPath = fc.oneof(
      fc.array(fc.constantFrom('..', 'x', 'y', '.', ''), { maxLength: 4 }).map((segs) => `${base}/${segs.join('/')}`),
      fc.constantFrom('relative/dir', '', `${base}/../../fz-sub`, '/etc/hostname', '/proc/self', '/dev/null', '/nonexistent-coracle-fuzz\0x'),
    );
    const inside = fc.oneof(fc.constantFrom('/data', '/', '/proc', '/dev/x', '/etc/resolv.conf', 'relative', '/a/../../b', '', '/x\0y'), weird);
    const podArb: fc.Arbitrary<PodSandboxConfig> = fc.record({
      metadata: fc.record({ name, namespace: name, uid: name, attempt: fc.nat({ max: 3 }) }),
      hostname: fc.oneof({ arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), weight: 6 }, { arbitrary: fc.string({ minLength: 60, maxLength: 300 }), weight: 1 }, { arbitrary: weird, weight: 1 }),
      log_directory: fc.oneof(fc.constant(join(d.dir, 'logs')), fc.constant(''), fc.constant('relative/logs')),
      labels: dict(3),
      annotations: dict(3),
      dns_config: fc.record({ servers: fc.array(weird, { maxLength: 3 }), searches: fc.array(weird, { maxLength: 7 }), options: fc.array(weird, { maxLength: 3 }) }),
      port_mappings: fc.array(fc.record({ protocol: fc.constantFrom('TCP', 'UDP', 'SCTP'), container_port: int32, host_port: fc.oneof(fc.constant(0), fc.integer({ min: 41000, max: 41050 }), int32), host_ip: fc.constantFrom('', '127.0.0.1', '::1', 'garbage') }), { maxLength: 2 }),
      linux: fc.record({
        cgroup_parent: fc.constantFrom('', `/${cgroupTop}/pods`, `${cgroupTop}`, '../../etc', 'kubepods.slice', '/\0', '/a//b'),
        sysctls: fc.dictionary(fc.constantFrom('net.ipv4.ip_forward', 'kernel.shmmni', 'net.core.somaxconn', 'vm.swappiness', 'kernel.hostname', '../../x', 'net/ipv4/../../../x', 'a=b', ''), weird, { maxKeys: 2 }),
        security_context: fc.record({ namespace_options: fc.record({ network: fc.constantFrom('POD', 'NODE', 'CONTAINER', 'TARGET'), pid: fc.constantFrom('POD', 'CONTAINER', 'NODE', 'TARGET'), ipc: fc.constantFrom('POD', 'NODE', 'CONTAINER') }) }, { requiredKeys: [] }),
      }, { requiredKeys: [] }),
    }, { requiredKeys: ['metadata'] });
    const ctrArb: fc.Arbitrary<ContainerConfig> = fc.record({
      metadata: fc.record({ name, attempt: fc.nat({ max: 3 }) }),
      image: fc.record({ image: fc.oneof(fc.constant(fx.image), fc.constant(fx.image), weird) }),
      command: fc.oneof(fc.constant(['/bin/true']), fc.constant(['/bin/sh', '-c', 'exit 0']), fc.array(weird, { maxLength: 2 })).map((c) => [...c]),
      args: fc.array(weird, { maxLength: 2 }),
      working_dir: fc.oneof(fc.constant(''), inside),
      envs: fc.array(fc.record({ key: weird, value: weird.map((v) => Buffer.from(v)) }), { maxLength: 3 }),
      mounts: fc.array(fc.record({ container_path: inside, host_path: hostPath, readonly: fc.boolean() }), { maxLength: 2 }),
      devices: fc.array(fc.record({ container_path: inside, host_path: fc.constantFrom('/dev/null', '/dev/zero', '/etc/hostname', 'dev/null', '/dev/nonexistent'), permissions: fc.constantFrom('', 'rwm', 'r', 'xyz') }), { maxLength: 2 }),
      labels: dict(2),
      annotations: dict(2),
      log_path: fc.oneof(fc.constant(''), fc.constant('c.log'), fc.constant('../fz/escape.log'), weird.map((s) => `x/${s}`)),
      stdin: fc.boolean(),
      tty: fc.boolean(),
      linux: fc.record({
        resources: fc.record({ cpu_period: int64, cpu_quota: int64, cpu_shares: int64, memory_limit_in_bytes: int64, oom_score_adj: int64, cpuset_cpus: fc.constantFrom('', '0', '0-1', '99', 'x'), cpuset_mems: fc.constantFrom('', '0', '7') }, { requiredKeys: [] }),
        security_context: fc.record({
          privileged: fc.boolean(),
          capabilities: fc.record({ add_capabilities: fc.array(fc.constantFrom('NET_ADMIN', 'SYS_ADMIN', 'ALL', 'CAP_CHOWN', 'bogus', ''), { maxLength: 2 }), drop_capabilities: fc.array(fc.constantFrom('ALL', 'CHOWN', 'bogus'), { maxLength: 2 }) }),
          run_as_user: fc.option(fc.record({ value: int64 }), { nil: undefined }),
          run_as_group: fc.option(fc.record({ value: int64 }), { nil: undefined }),
          run_as_username: fc.oneof(fc.constant(''), fc.constant('root'), fc.constant('nobody'), weird),
          supplemental_groups: fc.array(int64, { maxLength: 2 }),
          readonly_rootfs: fc.boolean(),
          no_new_privs: fc.boolean(),
          masked_paths: fc.array(inside, { maxLength: 2 }),
          readonly_paths: fc.array(inside, { maxLength: 2 }),
          seccomp: fc.record({ profile_type: fc.constantFrom('RuntimeDefault', 'Unconfined', 'Localhost'), localhost_ref: fc.constantFrom('', '/nonexistent.json', '/etc/hostname', 'relative.json') }),
          namespace_options: fc.record({ pid: fc.constantFrom('POD', 'CONTAINER', 'NODE', 'TARGET'), network: fc.constantFrom('POD', 'NODE') }),
        }, { requiredKeys: [] }),
      }, { requiredKeys: [] }),
    }, { requiredKeys: ['metadata', 'image'] });

    /** One call: its code is proper, or the run fails naming the call and what came back. */
    async function call<T>(what: string, p: Promise<T>): Promise<T | undefined> {
      stats.calls++;
      try {
        const r = await p;
        stats.ok++;
        return r;
      } catch (err) {
        const e = err as grpc.ServiceError;
        const key = `${what} ${grpc.status[e.code] ?? e.code}`;
        stats.codes.set(key, (stats.codes.get(key) ?? 0) + 1);
        const proper = PROPER.has(e.code) || (e.code === grpc.status.INTERNAL && TOOL_REFUSAL.test(e.details) && !JS_ERROR.test(e.details.replace(/"[^"]*"/g, '')));
        if (e.code === grpc.status.INTERNAL) found.set(`${what}: ${e.details.slice(-240)}`, '');
        assert.ok(proper, `${what}: ${grpc.status[e.code]}: ${e.details?.slice(0, 600)}`);
        return undefined;
      }
    }
    const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 45_000 });

    await fc.assert(
      fc.asyncProperty(podArb, fc.array(fc.tuple(ctrArb, fc.nat({ max: 9 })), { minLength: 1, maxLength: 3 }), weird, async (pod, ctrs, junk) => {
        const r = await call('RunPodSandbox', d.clients.runtime.RunPodSandbox({ config: pod }, deadline()));
        if (!r) return;
        stats.pods++;
        for (const [c, dice] of ctrs) {
          const created = await call('CreateContainer', d.clients.runtime.CreateContainer({ pod_sandbox_id: r.pod_sandbox_id, config: c, sandbox_config: pod }, deadline()));
          if (!created) continue;
          stats.containers++;
          // A fraction started: most runs test the request handling, some the runtime too.
          if (dice < 3 && (await call('StartContainer', d.clients.runtime.StartContainer({ container_id: created.container_id }, deadline())))) stats.started++;
          if (dice === 0) await call('ExecSync', d.clients.runtime.ExecSync({ container_id: created.container_id, cmd: [junk || 'true'], timeout: 5 }, deadline()));
          await call('ContainerStatus', d.clients.runtime.ContainerStatus({ container_id: created.container_id, verbose: true }, deadline()));
        }
        await call('ContainerStatus(junk)', d.clients.runtime.ContainerStatus({ container_id: junk }, deadline()));
        await call('ImageStatus(junk)', d.clients.image.ImageStatus({ image: { image: junk } }, deadline()));
        await call('ListContainers(junk)', d.clients.runtime.ListContainers({ filter: { id: junk, label_selector: { [junk]: junk } } }, deadline()));
        await call('PodSandboxStatus', d.clients.runtime.PodSandboxStatus({ pod_sandbox_id: r.pod_sandbox_id, verbose: true }, deadline()));
        // Removal must always work, whatever was asked before.
        await d.clients.runtime.StopPodSandbox({ pod_sandbox_id: r.pod_sandbox_id }, deadline());
        await d.clients.runtime.RemovePodSandbox({ pod_sandbox_id: r.pod_sandbox_id }, deadline());
      }),
      { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}), endOnFailure: true },
    );
    await d.clients.runtime.Version({ version: 'v1' });
    assert.equal(d.proc.exitCode, null, 'the daemon is alive');
    // Nothing of any run is left: records, runtime containers, mounts, veths, cgroups.
    assert.deepEqual((await d.clients.runtime.ListPodSandbox({})).items, []);
    assert.deepEqual((await d.clients.runtime.ListContainers({})).containers, []);
    assert.deepEqual(await readdir(join(d.root, 'containers')), []);
    assert.equal((await run('runc', [`--root=${join(d.state, 'runtime', 'runc')}`, 'list', '-q'])).stdout, '');
    assert.ok(!(await mountinfo()).includes(d.state), 'no pin or root of this daemon is mounted');
    assert.ok(!(await links()).includes(`master ${d.bridge} `), 'no veth is left on the bridge');
    const conmons = (await run('ps', ['-eo', 'args'])).stdout.split('\n').filter((l) => l.includes('conmon') && l.includes(d.state));
    assert.deepEqual(conmons, []);
    for (const top of await readdir('/sys/fs/cgroup/memory').catch(() => [] as string[])) {
      if (top === cgroupTop || top === 'coracle') {
        const left = (await readdir(join('/sys/fs/cgroup/memory', top), { recursive: true }).catch(() => [] as string[])).filter((n) => /[a-f0-9]{64}$/.test(n) && !n.includes('/'));
        assert.deepEqual(left.filter((n) => d.lines.some((l) => l.includes(n))), [], `cgroups of ${top} left`);
      }
    }
    const summary = { runs: RUNS, ...stats, codes: Object.fromEntries(stats.codes), internal: [...found.keys()] };
    if (process.env.CORACLE_FUZZ_REPORT) process.stdout.write(`${JSON.stringify(summary, null, 1)}\n`);
  });
});
