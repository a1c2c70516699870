/**
 * bench/lib/pod-rounds: pods with one container each, started and ended through the CRI
 * client, each RPC timed (bench/lifecycle). The container is a shell that traps SIGTERM, so
 * that StopContainer (timeout 2 s) is a real stop by the stop signal: each pod waits
 * (untimed) until the shell has said it is ready, and checks after the stop that it exited 0,
 * not by the SIGKILL of the timeout.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerConfig } from '../../src/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../../src/generated/runtime/v1/PodSandboxConfig.js';
import type { CriClients } from '../../test/helpers/cri-client.js';
import { podConfig } from '../../test/helpers/pods.js';
import { type Cleanups, sleep } from './host.js';
import type { Net } from './network.js';
import { checkInterrupted } from './teardown.js';

const RPC_DEADLINE_MS = 60_000;
/** StopContainer's timeout, in seconds: the shell exits at SIGTERM long before. */
const STOP_TIMEOUT_S = 2;
/** How long a started container has to say it is ready (its trap set). */
const READY_TIMEOUT_MS = 10_000;
/**
 * pid 1 of its pid namespace, a shell gets no default action for SIGTERM: it traps it. The
 * sleep runs in the background and the shell waits for it with `wait`, which a trapped
 * signal interrupts: with `sleep 1` in the foreground the shell would run the trap only once
 * that sleep ends, and each stop would take up to a second more, of the container's own.
 */
const CONTAINER_CMD = ['/bin/sh', '-c', "trap 'exit 0' TERM; echo ready; while true; do sleep 1 & wait $!; done"];
export const RPCS = ['RunPodSandbox', 'CreateContainer', 'StartContainer', 'StopContainer', 'RemoveContainer', 'StopPodSandbox', 'RemovePodSandbox'] as const;
export type Rpc = (typeof RPCS)[number];
export const START = 'pod+container start';
/** The rows of the figures: each RPC, and Run + Create + Start of a round. */
export const ROWS = [...RPCS, START] as const;
export type Timings = Record<(typeof ROWS)[number], number[]>;

export const opts = (): { deadline: number } => ({ deadline: Date.now() + RPC_DEADLINE_MS });
const ms = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e6;

/** What the runs of one runtime need to know. */
export interface PodTarget {
  name: string;
  clients: CriClients;
  net: Net;
  /** The container image, as pulled. */
  image: string;
  /** The pods' log dirs go under it, one per pod, made before the pod (as kubelet does). */
  logRoot: string;
}

export interface RunningPod {
  podId: string;
  containerId: string;
  sandbox: PodSandboxConfig;
  logFile: string;
}

function containerConfig(image: string): ContainerConfig {
  return { metadata: { name: 'main', attempt: 0 }, image: { image }, command: CONTAINER_CMD, log_path: 'main.log' };
}

/** Stops and removes whatever containers and pods a runtime still has (a run cut short). */
export function addPodsCleanup(cleanups: Cleanups, name: string, clients: CriClients): void {
  cleanups.add(`remove the containers and pods of ${name}`, async () => {
    for (const c of (await clients.runtime.ListContainers({}, opts())).containers) {
      await clients.runtime.StopContainer({ container_id: c.id, timeout: 0 }, opts());
      await clients.runtime.RemoveContainer({ container_id: c.id }, opts());
    }
    for (const pod of (await clients.runtime.ListPodSandbox({}, opts())).items) {
      await clients.runtime.StopPodSandbox({ pod_sandbox_id: pod.id }, opts());
      await clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod.id }, opts());
    }
  });
}

/** Waits until the container's shell has written "ready" to its log: its trap is set. */
async function waitReady(t: PodTarget, pod: RunningPod): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const log = await readFile(pod.logFile, 'utf8').catch(() => '');
    if (/ stdout F ready$/m.test(log)) return;
    if (Date.now() > deadline) throw new Error(`${t.name}: container ${pod.containerId.slice(0, 12)} did not say "ready" within ${READY_TIMEOUT_MS / 1000} s (log: ${JSON.stringify(log)})`);
    await sleep(2);
  }
}

/**
 * A pod with its container started, each RPC timed into `t` when given. With `check`, the
 * pod's status must show an address of the runtime's subnet (untimed, after Run).
 */
export async function startPod(target: PodTarget, label: string, timings: Timings | undefined, check: boolean): Promise<RunningPod> {
  const { clients, name } = target;
  const podName = `life-${name}-${label}`;
  const logDir = join(target.logRoot, podName);
  await mkdir(logDir, { recursive: true });
  const sandbox = podConfig(podName, { metadata: { name: podName, namespace: 'bench', uid: randomUUID(), attempt: 0 }, log_directory: logDir });
  checkInterrupted();
  const t0 = process.hrtime.bigint();
  const { pod_sandbox_id: podId } = await clients.runtime.RunPodSandbox({ config: sandbox, runtime_handler: '' }, opts());
  const t1 = process.hrtime.bigint();
  if (check) {
    const ip = (await clients.runtime.PodSandboxStatus({ pod_sandbox_id: podId, verbose: false }, opts())).status?.network?.ip ?? '';
    if (!ip.startsWith(target.net.prefix)) throw new Error(`${name}: pod ${podId.slice(0, 12)} has address "${ip}", expected one of ${target.net.subnet}`);
  }
  checkInterrupted();
  const t2 = process.hrtime.bigint();
  const { container_id: containerId } = await clients.runtime.CreateContainer({ pod_sandbox_id: podId, config: containerConfig(target.image), sandbox_config: sandbox }, opts());
  const t3 = process.hrtime.bigint();
  checkInterrupted();
  const t4 = process.hrtime.bigint();
  await clients.runtime.StartContainer({ container_id: containerId }, opts());
  const t5 = process.hrtime.bigint();
  if (timings) {
    const d = (a: bigint, b: bigint): number => Number(b - a) / 1e6;
    timings.RunPodSandbox.push(d(t0, t1));
    timings.CreateContainer.push(d(t2, t3));
    timings.StartContainer.push(d(t4, t5));
    timings[START].push(d(t0, t1) + d(t2, t3) + d(t4, t5));
  }
  const pod = { podId, containerId, sandbox, logFile: join(logDir, 'main.log') };
  await waitReady(target, pod);
  return pod;
}

/** Stops and removes the container (checking that SIGTERM stopped it), then the pod. */
export async function endPod(target: PodTarget, pod: RunningPod, timings: Timings | undefined): Promise<void> {
  const { clients, name } = target;
  const time = async (rpc: Rpc, call: () => Promise<unknown>): Promise<void> => {
    checkInterrupted();
    const start = process.hrtime.bigint();
    await call();
    timings?.[rpc].push(ms(start));
  };
  await time('StopContainer', () => clients.runtime.StopContainer({ container_id: pod.containerId, timeout: STOP_TIMEOUT_S }, opts()));
  const s = (await clients.runtime.ContainerStatus({ container_id: pod.containerId, verbose: false }, opts())).status;
  if (s?.state !== 'CONTAINER_EXITED' || s.exit_code !== 0) {
    throw new Error(`${name}: container ${pod.containerId.slice(0, 12)} after StopContainer: ${s?.state} exit ${s?.exit_code} (${s?.reason}), expected EXITED exit 0 (its SIGTERM trap)`);
  }
  await time('RemoveContainer', () => clients.runtime.RemoveContainer({ container_id: pod.containerId }, opts()));
  await time('StopPodSandbox', () => clients.runtime.StopPodSandbox({ pod_sandbox_id: pod.podId }, opts()));
  await time('RemovePodSandbox', () => clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod.podId }, opts()));
}

function emptyTimings(): Timings {
  return {
    RunPodSandbox: [],
    CreateContainer: [],
    StartContainer: [],
    StopContainer: [],
    RemoveContainer: [],
    StopPodSandbox: [],
    RemovePodSandbox: [],
    [START]: [],
  };
}

/** `rounds` pods, one after the other, each started and ended; timed unless `warmup`. */
export async function lifecycleRounds(target: PodTarget, rounds: number, warmup: boolean): Promise<Timings> {
  const t = emptyTimings();
  for (let i = 0; i < rounds; i++) {
    const pod = await startPod(target, `${warmup ? 'w' : 'r'}${i}`, warmup ? undefined : t, warmup);
    await endPod(target, pod, warmup ? undefined : t);
  }
  return t;
}
