import { join } from 'node:path';
import type { ContainerConfig } from '../../src/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../../src/generated/runtime/v1/PodSandboxConfig.js';
import type { BusyboxRegistry } from './busybox-registry.js';
import { startTestDaemon, type TestConfigOptions, type TestDaemon } from './daemon.js';
import { podConfig, startContainer } from './pods.js';

/** A daemon on a pod network of its own that pulls through `fixture`'s registry, with its image pulled. */
export async function busyboxDaemon(fixture: BusyboxRegistry, opts: TestConfigOptions = {}): Promise<TestDaemon> {
  const d = await startTestDaemon({ network: true, ...opts, mirrors: { ...opts.mirrors, [fixture.registry.host]: fixture.registry.url } });
  await d.clients.image.PullImage({ image: { image: fixture.image } });
  return d;
}

export interface BusyboxPod {
  d: TestDaemon;
  /** The pod's id, and the config it was run with. */
  pod: string;
  podCfg: PodSandboxConfig;
  /** Creates and starts container `name` of the image in the pod, logging to `name.log`. */
  start(name: string, command: string[], over?: Partial<ContainerConfig>): Promise<string>;
}

/** busyboxDaemon, and a pod `name` on it that logs under the daemon's dir. */
export async function busyboxPod(fixture: BusyboxRegistry, name: string, opts: TestConfigOptions = {}): Promise<BusyboxPod> {
  const d = await busyboxDaemon(fixture, opts);
  const podCfg = podConfig(name, { log_directory: join(d.dir, 'logs') });
  const pod = (await d.clients.runtime.RunPodSandbox({ config: podCfg })).pod_sandbox_id;
  return { d, pod, podCfg, start: (c, command, over) => startContainer(d.clients.runtime, { id: pod, config: podCfg }, fixture.image, c, command, over) };
}
