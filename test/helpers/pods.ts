import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { ContainerConfig } from '../../src/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../../src/generated/runtime/v1/PodSandboxConfig.js';
import type { CriClients } from './cri-client.js';

const run = promisify(execFile);

/** A PodSandboxConfig as kubelet sends one, with the test's overrides. */
export function podConfig(name: string, over: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  return {
    metadata: { name, namespace: 'test', uid: randomUUID(), attempt: 0 },
    hostname: name,
    log_directory: '',
    labels: { app: name },
    annotations: { 'test/annotation': 'yes' },
    ...over,
  };
}

/** Runs a host binary inside a pinned namespace (nsenter joins it; the mounts stay the host's). */
export async function inNamespace(kind: 'net' | 'uts' | 'ipc', pin: string, args: string[]): Promise<string> {
  const { stdout } = await run('nsenter', [`--${kind}=${pin}`, ...args], { timeout: 10_000 });
  return stdout;
}

export async function mountinfo(): Promise<string> {
  return readFile('/proc/self/mountinfo', 'utf8');
}

export async function links(): Promise<string> {
  return (await run('ip', ['-o', 'link', 'show'])).stdout;
}

/** Creates and starts a container `name` running `command` in pod `pod`, logging to `name.log`; `over` adds to its config. */
export async function startContainer(
  runtime: CriClients['runtime'],
  pod: { id: string; config: PodSandboxConfig },
  image: string,
  name: string,
  command: string[],
  over: Partial<ContainerConfig> = {},
): Promise<string> {
  const config: ContainerConfig = { metadata: { name, attempt: 0 }, image: { image }, command, log_path: `${name}.log`, ...over };
  const { container_id: id } = await runtime.CreateContainer({ pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
  await runtime.StartContainer({ container_id: id });
  return id;
}
