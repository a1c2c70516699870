/**
 * bench/lib/pod-churn: rounds of pods, each with one container, that come and go, and the
 * memory and open files of the processes of a runtime around them (bench/daemon).
 */
import { randomUUID } from 'node:crypto';
import type { CriClients } from '../../test/helpers/cri-client.js';
import { podConfig } from '../../test/helpers/pods.js';
import { fdCount, memOf as rssPssOf, mib, type Mem as RssPss } from './memory.js';
import { checkInterrupted } from './teardown.js';

const RPC_DEADLINE_MS = 60_000;
const opts = (): { deadline: number } => ({ deadline: Date.now() + RPC_DEADLINE_MS });

/** Resident and proportional set sizes, in KiB, and open files. */
export interface Mem extends RssPss {
  fds: number;
}

/** VmRSS, Pss and open fds of each of `pids`, summed. */
export async function memOf(pids: number[]): Promise<Mem> {
  let fds = 0;
  for (const pid of pids) fds += await fdCount(pid).catch(() => 0);
  return { ...(await rssPssOf(pids)), fds };
}

export const memText = (m: Mem): string => `RSS ${mib(m.rss)}, PSS ${mib(m.pss)}, ${m.fds} fds`;

/** How the pods of one runtime are made and its processes found. */
export interface ChurnTarget {
  name: string;
  clients: CriClients;
  image: string;
  daemonPid: number;
  /** The per-pod processes of the runtime now up: monitors (and containerd's pauses). */
  podProcesses: () => Promise<number[]>;
}

/** Stops and removes whatever containers and pods a runtime still has (a run cut short). */
export { addPodsCleanup } from './pod-rounds.js';

interface Pod {
  podId: string;
  containerId: string;
}

async function startPod(t: ChurnTarget, name: string): Promise<Pod> {
  checkInterrupted();
  const sandbox = podConfig(name, { metadata: { name, namespace: 'bench', uid: randomUUID(), attempt: 0 } });
  const { pod_sandbox_id: podId } = await t.clients.runtime.RunPodSandbox({ config: sandbox, runtime_handler: '' }, opts());
  const { container_id: containerId } = await t.clients.runtime.CreateContainer(
    { pod_sandbox_id: podId, config: { metadata: { name: 'main', attempt: 0 }, image: { image: t.image }, command: ['/bin/sleep', '3600'] }, sandbox_config: sandbox },
    opts(),
  );
  await t.clients.runtime.StartContainer({ container_id: containerId }, opts());
  return { podId, containerId };
}

async function endPod(t: ChurnTarget, pod: Pod): Promise<void> {
  checkInterrupted();
  await t.clients.runtime.StopContainer({ container_id: pod.containerId, timeout: 0 }, opts());
  await t.clients.runtime.RemoveContainer({ container_id: pod.containerId }, opts());
  await t.clients.runtime.StopPodSandbox({ pod_sandbox_id: pod.podId }, opts());
  await t.clients.runtime.RemovePodSandbox({ pod_sandbox_id: pod.podId }, opts());
}

export interface ChurnResult {
  /** The daemon, and the per-pod processes, with the first round's pods up. */
  up: { daemon: Mem; pods: Mem; count: number };
  /** The daemon after each round's pods are gone. */
  after: Mem[];
}

/**
 * `rounds` times: `pods` pods started one after the other, then all ended. The memory is read
 * `settleMs` after the pods of the first round are up, and after each round's are gone.
 */
export async function churn(t: ChurnTarget, rounds: number, pods: number, settleMs: number): Promise<ChurnResult> {
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, settleMs));
  let up: ChurnResult['up'] | undefined;
  const after: Mem[] = [];
  for (let r = 0; r < rounds; r++) {
    const running: Pod[] = [];
    try {
      for (let i = 0; i < pods; i++) running.push(await startPod(t, `churn-${t.name}-${r}-${i}`));
      if (!up) {
        await settle();
        const pids = await t.podProcesses();
        up = { daemon: await memOf([t.daemonPid]), pods: await memOf(pids), count: pids.length };
      }
    } finally {
      // The pods of a round cut short go here, or else at cleanup (addPodsCleanup).
      for (const pod of running) await endPod(t, pod);
    }
    await settle();
    after.push(await memOf([t.daemonPid]));
  }
  return { up: up!, after };
}

export function printChurn(name: string, fresh: Mem, c: ChurnResult, pods: number): void {
  console.log(`${name}: fresh daemon                 ${memText(fresh)}`);
  console.log(`${name}: daemon with ${pods} pods up        ${memText(c.up.daemon)}`);
  console.log(`${name}: ${c.up.count} per-pod processes             ${memText(c.up.pods)}`);
  console.log(`${name}: daemon + per-pod processes PSS ${mib(c.up.daemon.pss + c.up.pods.pss)}`);
  c.after.forEach((m, i) => console.log(`${name}: after ${(i + 1) * pods} pods came and went  ${memText(m)}`));
}
