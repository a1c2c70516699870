import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { busyboxRegistry } from '../helpers/busybox-registry.js';
import { onCleanup } from '../helpers/cleanup.js';
import { cgroupDirs, removeCgroupsSince } from '../helpers/cgroups.js';
import { containerArbitrary, ENDING_COMMANDS, mutate, planArbitrary, podArbitrary, resourcesArbitrary, weird } from '../helpers/cri-arbitraries.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { links, mountinfo } from '../helpers/pods.js';

const run = promisify(execFile);

/**
 * In CI: about a minute (runs stop at CORACLE_FUZZ_SECONDS, 45 by default). By hand:
 * CORACLE_FUZZ_SECONDS=900 CORACLE_FUZZ_RUNS=100000 CORACLE_FUZZ_REPORT=1, mocha --timeout 3600000.
 */
const RUNS = Number(process.env.CORACLE_FUZZ_RUNS ?? 200);
const SECONDS = Number(process.env.CORACLE_FUZZ_SECONDS ?? 45);
const COLLECT = !!process.env.CORACLE_FUZZ_COLLECT;
const SEED = process.env.CORACLE_FUZZ_SEED ? Number(process.env.CORACLE_FUZZ_SEED) : undefined;

/**
 * The codes a request may be answered with. No INTERNAL: whatever a request holds, either
 * Coracle refuses it (INVALID_ARGUMENT…) or it works; an INTERNAL would be a tool failing on
 * content Coracle should have checked, or a bug. DEADLINE_EXCEEDED only for ExecSync, whose
 * own timeout it is; never UNKNOWN, CANCELLED or UNAVAILABLE (a hang or a dead daemon).
 */
const PROPER = new Set([grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND, grpc.status.FAILED_PRECONDITION, grpc.status.RESOURCE_EXHAUSTED, grpc.status.ALREADY_EXISTS, grpc.status.UNIMPLEMENTED, grpc.status.OUT_OF_RANGE, grpc.status.PERMISSION_DENIED]);
const JS_ERROR = /TypeError|ReferenceError|RangeError|Cannot read propert|is not a function|\bundefined\b|\[object Object\]|\bNaN\b/;

describe('cri/server: property-based requests against the real daemon', function () {
  const fx = busyboxRegistry('fuzz/busybox', { config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
  this.timeout(Math.max(150_000, (SECONDS + 120) * 1000));

  it('answers valid pods and containers with one or two hostile fields, and hostile calls on them, with proper codes; stays up; leaves nothing', async () => {
    // Fuzzed cgroup parents ("a/b", "/a//b", any string) make dirs in every hierarchy.
    const cgroupsBefore = await cgroupDirs();
    onCleanup('remove the cgroups the fuzz made, once its daemon is gone', () => removeCgroupsSince(cgroupsBefore));
    const d: TestDaemon = await startTestDaemon({ network: true, mirrors: { [fx.registry.host]: fx.registry.url } });
    await d.clients.image.PullImage({ image: { image: fx.image } });
    // Host paths stay inside this base, whatever `..` they hold (at most 4 up): mounts of
    // missing dirs make them, and nothing may be made on the host outside the test.
    const base = join(d.dir, 'fz', 'a', 'b', 'c', 'd');
    await mkdir(base, { recursive: true });
    const cgroupTop = `coracle-fuzz-${process.pid}`;
    const places = { logs: join(d.dir, 'logs'), base, cgroupTop, image: fx.image };
    const stats = { runs: 0, calls: 0, ok: 0, pods: 0, created: 0, started: 0, execs: 0, updates: 0, stopped: 0, removed: 0, codes: new Map<string, number>() };
    const rt = d.clients.runtime;
    const findings = new Set<string>();
    const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 60_000 });

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
        const proper = (PROPER.has(e.code) || (what === 'ExecSync' && e.code === grpc.status.DEADLINE_EXCEEDED)) && !JS_ERROR.test((e.details ?? '').replace(/"[^"]*"/g, ''));
        const finding = `${what}: ${grpc.status[e.code] ?? e.code}: ${(e.details ?? String(err)).replace(/time="[^"]*" level=warning msg="[^\n]*\n/g, '').slice(0, 600)}`;
        // CORACLE_FUZZ_COLLECT: a hunt; every finding is listed at the end instead of failing at the first.
        if (!proper && COLLECT) findings.add(`${finding.replace(/[0-9a-f]{64}/g, 'ID').slice(0, 300)} … ${e.details?.slice(-200)}`);
        else assert.ok(proper, finding);
        return undefined;
      }
    }

    // fast-check stops at the time limit without waiting for the run in flight: it is
    // awaited before anything is checked.
    let inflight: Promise<void> = Promise.resolve();
    const containers = fc.array(fc.tuple(containerArbitrary(places), planArbitrary), { minLength: 1, maxLength: 3 });
    await fc.assert(
      fc.asyncProperty(podArbitrary(places), containers, weird, resourcesArbitrary, async (pod, ctrs, junk, junkResources) => {
        const one = (async (): Promise<void> => {
          stats.runs++;
          const podConfig = mutate(pod.config, pod.mutations);
          const r = await call('RunPodSandbox', rt.RunPodSandbox({ config: podConfig }, deadline()));
          if (r) {
            stats.pods++;
            const podId = r.pod_sandbox_id;
            const sharedPid = podConfig.linux?.security_context?.namespace_options?.pid === 'POD';
            for (const [c, plan] of ctrs) {
              const base = sharedPid ? mutate(c.config, [{ path: 'linux.security_context.namespace_options.pid', value: 'POD' }]) : c.config;
              const config = mutate(base, c.mutations);
              const created = await call('CreateContainer', rt.CreateContainer({ pod_sandbox_id: podId, config, sandbox_config: podConfig }, deadline()));
              if (!created) continue;
              stats.created++;
              const id = created.container_id;
              if (plan.start && (await call('StartContainer', rt.StartContainer({ container_id: id }, deadline())))) stats.started++;
              if (plan.exec && (await call('ExecSync', rt.ExecSync({ container_id: id, cmd: plan.exec.cmd, timeout: plan.exec.timeout }, deadline())))) stats.execs++;
              if (plan.update && (await call('UpdateContainerResources', rt.UpdateContainerResources({ container_id: id, linux: plan.update }, deadline())))) stats.updates++;
              if (plan.reopen) await call('ReopenContainerLog', rt.ReopenContainerLog({ container_id: id }, deadline()));
              if (plan.stats) await call('ContainerStats', rt.ContainerStats({ container_id: id }, deadline()));
              await call('ContainerStatus', rt.ContainerStatus({ container_id: id, verbose: true }, deadline()));
              // A huge stop timeout waits for the container: only for those that end by themselves.
              const ends = ENDING_COMMANDS.some((e) => JSON.stringify(e) === JSON.stringify(config.command)) && !config.stdin && !config.tty && !config.args?.length;
              const timeout = ends || typeof plan.stopTimeout === 'string' ? plan.stopTimeout : Math.min(plan.stopTimeout, 1);
              if (ends || Number(timeout) <= 1) {
                if (await call('StopContainer', rt.StopContainer({ container_id: id, timeout }, deadline()))) stats.stopped++;
              }
              if (plan.remove && (await call('RemoveContainer', rt.RemoveContainer({ container_id: id }, deadline())))) stats.removed++;
            }
            await call('PodSandboxStats', rt.PodSandboxStats({ pod_sandbox_id: podId }, deadline()));
            await call('PodSandboxStatus', rt.PodSandboxStatus({ pod_sandbox_id: podId, verbose: true }, deadline()));
          }
          // Calls on ids that are not there, or are junk.
          await call('ContainerStatus(junk)', rt.ContainerStatus({ container_id: junk }, deadline()));
          await call('ExecSync(junk)', rt.ExecSync({ container_id: junk, cmd: ['/bin/true'], timeout: 5 }, deadline()));
          await call('UpdateContainerResources(junk)', rt.UpdateContainerResources({ container_id: junk, linux: junkResources }, deadline()));
          await call('ReopenContainerLog(junk)', rt.ReopenContainerLog({ container_id: junk }, deadline()));
          await call('PodSandboxStats(junk)', rt.PodSandboxStats({ pod_sandbox_id: junk }, deadline()));
          await call('ImageStatus(junk)', d.clients.image.ImageStatus({ image: { image: junk } }, deadline()));
          await call('ListContainers(junk)', rt.ListContainers({ filter: { id: junk, label_selector: { [junk]: junk } } }, deadline()));
          // Removal must always work, whatever was asked before.
          if (r) {
            await rt.StopPodSandbox({ pod_sandbox_id: r.pod_sandbox_id }, deadline());
            await rt.RemovePodSandbox({ pod_sandbox_id: r.pod_sandbox_id }, deadline());
          }
        })();
        inflight = one;
        await one;
      }),
      { numRuns: RUNS, interruptAfterTimeLimit: SECONDS * 1000, ...(SEED !== undefined ? { seed: SEED } : {}), endOnFailure: true },
    );
    await inflight.catch(() => undefined);
    if (process.env.CORACLE_FUZZ_REPORT) process.stdout.write(`${JSON.stringify({ ...stats, codes: Object.fromEntries([...stats.codes].sort()), findings: [...findings] }, null, 1)}\n`);
    assert.deepEqual([...findings], [], 'improper answers');
    await rt.Version({ version: 'v1' });
    assert.equal(d.proc.exitCode, null, 'the daemon is alive');
    // Nothing of any run is left: records, runtime containers, mounts, veths, cgroups.
    assert.deepEqual((await rt.ListPodSandbox({})).items, []);
    assert.deepEqual((await rt.ListContainers({})).containers, []);
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
    // A share of the runs must reach the runtime, or the fuzz tests only the refusals.
    assert.ok(stats.started * 4 >= stats.runs, `only ${stats.started} of ${stats.runs} runs started a container`);
  });
});
