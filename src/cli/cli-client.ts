import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import type { ContainerStatus__Output } from '../generated/runtime/v1/ContainerStatus.js';
import type { ImageServiceClient } from '../generated/runtime/v1/ImageService.js';
import type { RuntimeServiceClient } from '../generated/runtime/v1/RuntimeService.js';
import { loadCriProto } from '../cri/proto-clients.js';
import { channelOf, fromGrpc, streamEndpoint, type DaemonTarget, type StreamEndpoint } from './daemon-target.js';
import { POD_NETWORK_METADATA } from '../cri/sandbox-run.js';
import { EXEC_OVERRIDES_METADATA } from '../cri/exec-metadata.js';
import type { ExecOverrides } from '../oci/exec-overrides.js';
import { CONSOLE_SIZE_ANNOTATION } from '../container/console-size.js';
import { AUTO_REMOVE_ANNOTATION } from '../container/restart-policy.js';
import { cliNamespace } from './cli-namespace.js';

/**
 * The `coracle` CLI's side of CRI: the same RuntimeService and ImageService kubelet uses,
 * behind plain types. What the CLI makes is an ordinary pod with one container, labelled
 * so that the CLI knows its own (and leaves kubelet's alone).
 */

/** Labels on the pods and containers the CLI makes. */
export const CLI_LABEL = 'io.coracle.cli';
export const NAME_LABEL = 'io.coracle.cli.name';
/** Annotations the CLI keeps what CRI does not report back. */
const COMMAND_ANNOTATION = 'io.coracle.cli.command';
const ARGS_ANNOTATION = 'io.coracle.cli.args';
const PORTS_ANNOTATION = 'io.coracle.cli.ports';

export interface CliContainer {
  id: string;
  podId: string;
  /** The CLI's name for it; kubelet's containers get their CRI name. */
  name: string;
  cli: boolean;
  image: string;
  imageId: string;
  /** CRI's command (docker's --entrypoint) and args (the arguments after the image), as given. */
  command: string[];
  args: string[];
  ports: string[];
  state: 'created' | 'running' | 'exited' | 'unknown';
  /** Milliseconds since the epoch; 0 when not yet. */
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  logPath: string;
  labels: Record<string, string>;
  /** The daemon removes it, with its pod, once it has ended (run -d --rm). */
  autoRemove: boolean;
}

export interface CliImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  entrypoint: string[];
  cmd: string[];
}

export interface PortSpec {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: 'TCP' | 'UDP';
}

export interface RunSpec {
  name: string;
  image: string;
  command: string[];
  args: string[];
  env: { key: string; value: string }[];
  mounts: { hostPath: string; containerPath: string; readonly: boolean }[];
  ports: PortSpec[];
  logDirectory: string;
  stdin: boolean;
  /**
   * The container's stdin closes when the first attach ends its input (CRI stdin_once), as
   * docker's StdinOnce: run -i in the foreground, without a terminal. Without it, an attach
   * whose input ends detaches, and the process keeps its stdin for the next one (run -d -i).
   */
  stdinOnce?: boolean;
  tty: boolean;
  /** With `tty`: the local terminal's size, which the container's terminal starts with. */
  consoleSize?: { rows: number; cols: number };
  workdir?: string;
  user?: { name?: string; uid?: number; gid?: number };
  /** The pod's hostname; the container's name when not given. */
  hostname?: string;
  network?: 'host' | 'none' | 'default';
  /** Bytes. */
  memory?: number;
  /** CPU quota and period, in microseconds. */
  cpu?: { quota: number; period: number };
  /** The user's labels (-l), beside the CLI's own. */
  labels?: Record<string, string>;
  /** Annotations the daemon reads (restart policy, auto-remove). */
  annotations?: Record<string, string>;
}

const nanosToMs = (n: string | number | undefined): number => Number(BigInt(n ?? 0) / 1_000_000n);

function callback<T>(resolve: (v: T) => void, reject: (e: unknown) => void, target: string) {
  return (err: grpc.ServiceError | null, res?: T): void => {
    if (err) reject(fromGrpc(err, target));
    else resolve(res as T);
  };
}

export class CliClient {
  private readonly runtime: RuntimeServiceClient;
  private readonly images: ImageServiceClient;
  readonly target: string;

  constructor(private readonly to: DaemonTarget) {
    const proto = loadCriProto();
    const ch = channelOf(to);
    this.target = ch.display;
    // Every call in the CLI's namespace: it sees and touches only its own containers.
    this.runtime = new proto.runtime.v1.RuntimeService(ch.target, ch.credentials, { interceptors: [cliNamespace] });
    this.images = new proto.runtime.v1.ImageService(ch.target, ch.credentials, { interceptors: [cliNamespace] });
  }

  close(): void {
    this.runtime.close();
    this.images.close();
  }

  private rt<T>(method: string, request: unknown, timeoutMs = 120_000, metadata = new grpc.Metadata()): Promise<T> {
    return new Promise((resolve, reject) => {
      const fn = (this.runtime as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!;
      fn.call(this.runtime, request, metadata, { deadline: Date.now() + timeoutMs }, callback<T>(resolve, reject, this.target));
    });
  }

  private img<T>(method: string, request: unknown, timeoutMs = 600_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const fn = (this.images as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!;
      fn.call(this.images, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, callback<T>(resolve, reject, this.target));
    });
  }

  async version(): Promise<{ runtimeName: string; runtimeVersion: string; apiVersion: string }> {
    const v = await this.rt<{ runtime_name: string; runtime_version: string; runtime_api_version: string }>('Version', {}, 10_000);
    return { runtimeName: v.runtime_name, runtimeVersion: v.runtime_version, apiVersion: v.runtime_api_version };
  }

  async status(): Promise<{ conditions: { type: string; status: boolean; reason: string; message: string }[]; info: Record<string, string> }> {
    const s = await this.rt<{ status: { conditions: { type: string; status: boolean; reason: string; message: string }[] }; info: Record<string, string> }>('Status', { verbose: true }, 10_000);
    return { conditions: s.status.conditions, info: s.info };
  }

  async containers(): Promise<CliContainer[]> {
    const list = await this.rt<{ containers: { id: string; pod_sandbox_id: string }[] }>('ListContainers', {});
    const out: CliContainer[] = [];
    for (const c of list.containers) {
      // Gone between the list and the status: it is not listed.
      const one = await this.container(c.id, c.pod_sandbox_id);
      if (one) out.push(one);
    }
    return out.sort((a, b) => b.createdAt - a.createdAt);
  }

  /** One container as it is now (one ContainerStatus call); undefined once it is gone. */
  async container(id: string, podId: string): Promise<CliContainer | undefined> {
    const s = await this.rt<{ status: ContainerStatus__Output | null }>('ContainerStatus', { container_id: id }).catch(() => undefined);
    return s?.status ? toCliContainer(s.status, podId) : undefined;
  }

  /** Starts what `make` made; a failure removes the pod (and the container with it). */
  async startMade(made: { id: string; podId: string }): Promise<void> {
    try {
      await this.rt('StartContainer', { container_id: made.id });
    } catch (err) {
      await this.discard(made.podId);
      throw err;
    }
  }

  /** A pod `make` made, with its container, gone; errors are passed over (it may be gone already). */
  async discard(podId: string): Promise<void> {
    await this.rt('StopPodSandbox', { pod_sandbox_id: podId }).catch(() => undefined);
    await this.rt('RemovePodSandbox', { pod_sandbox_id: podId }).catch(() => undefined);
  }

  /** A pod with one container, not started: what `coracle run` makes (it opens its follow and its exit watch, then startMade); a failure leaves no pod. */
  async make(spec: RunSpec): Promise<{ id: string; podId: string }> {
    const labels = { ...spec.labels, [CLI_LABEL]: 'true', [NAME_LABEL]: spec.name };
    const hostNetwork = spec.network === 'host';
    const namespaceOptions = { network: hostNetwork ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD' };
    const podConfig = {
      metadata: { name: spec.name, namespace: 'coracle', uid: randomUUID(), attempt: 0 },
      // In the host's network the pod has the host's UTS namespace too (as docker's --network host).
      hostname: hostNetwork ? '' : (spec.hostname ?? spec.name.slice(0, 63)),
      log_directory: spec.logDirectory,
      labels,
      port_mappings: spec.ports.map((p) => ({ protocol: p.protocol, container_port: p.containerPort, host_port: p.hostPort, host_ip: p.hostIp })),
      linux: { security_context: { namespace_options: namespaceOptions } },
    };
    // The CLI's pods are on Coracle's own network (or none), whatever network kubelet's pods use.
    const network = new grpc.Metadata();
    network.set(POD_NETWORK_METADATA, spec.network === 'none' ? 'none' : 'embedded');
    const user = spec.user ?? {};
    const security = {
      namespace_options: namespaceOptions,
      ...(user.uid !== undefined ? { run_as_user: { value: user.uid } } : {}),
      ...(user.name !== undefined ? { run_as_username: user.name } : {}),
      ...(user.gid !== undefined ? { run_as_group: { value: user.gid } } : {}),
    };
    const resources = { ...(spec.memory ? { memory_limit_in_bytes: spec.memory } : {}), ...(spec.cpu ? { cpu_quota: spec.cpu.quota, cpu_period: spec.cpu.period } : {}) };
    const { pod_sandbox_id: podId } = await this.rt<{ pod_sandbox_id: string }>('RunPodSandbox', { config: podConfig }, 120_000, network);
    try {
      const { container_id: id } = await this.rt<{ container_id: string }>('CreateContainer', {
        pod_sandbox_id: podId,
        config: {
          metadata: { name: spec.name, attempt: 0 },
          image: { image: spec.image },
          command: spec.command,
          args: spec.args,
          working_dir: spec.workdir ?? '',
          linux: { security_context: security, resources },
          // KeyValue.value is bytes in CRI (a string would be read as base64).
          envs: spec.env.map((e) => ({ key: e.key, value: Buffer.from(e.value) })),
          mounts: spec.mounts.map((m) => ({ host_path: m.hostPath, container_path: m.containerPath, readonly: m.readonly })),
          log_path: 'container.log',
          stdin: spec.stdin,
          stdin_once: spec.stdinOnce === true,
          tty: spec.tty,
          labels,
          annotations: {
            ...spec.annotations,
            [COMMAND_ANNOTATION]: JSON.stringify(spec.command),
            [ARGS_ANNOTATION]: JSON.stringify(spec.args),
            [PORTS_ANNOTATION]: JSON.stringify(spec.ports.map((p) => `${p.hostIp || '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.protocol.toLowerCase()}`)),
            ...(spec.tty && spec.consoleSize ? { [CONSOLE_SIZE_ANNOTATION]: `${spec.consoleSize.rows}x${spec.consoleSize.cols}` } : {}),
          },
        },
        sandbox_config: podConfig,
      });
      return { id, podId };
    } catch (err) {
      await this.discard(podId);
      throw err;
    }
  }

  async stop(id: string, timeoutSeconds: number): Promise<void> {
    await this.rt('StopContainer', { container_id: id, timeout: timeoutSeconds }, (timeoutSeconds + 30) * 1000);
  }

  /** Removes the container, and its pod when the CLI made that pod. */
  async remove(c: CliContainer): Promise<void> {
    await this.rt('RemoveContainer', { container_id: c.id });
    if (c.cli && c.podId) {
      await this.rt('StopPodSandbox', { pod_sandbox_id: c.podId });
      await this.rt('RemovePodSandbox', { pod_sandbox_id: c.podId });
    }
  }

  /** Whether the container was made with stdin and a tty (Coracle's verbose status says). */
  async stdio(id: string): Promise<{ stdin: boolean; tty: boolean }> {
    const s = await this.rt<{ info: Record<string, string> }>('ContainerStatus', { container_id: id, verbose: true });
    const record = safeJson(s.info.info ?? '{}') as { stdin?: boolean; tty?: boolean };
    return { stdin: record.stdin === true, tty: record.tty === true };
  }

  /** Where an exec or an attach streams (the CRI Exec and Attach calls' URL; daemon-target.ts); an exec's `overrides` in Coracle's metadata. */
  async stream(kind: 'exec' | 'attach', id: string, o: { cmd?: string[]; stdin: boolean; tty: boolean; overrides?: ExecOverrides }): Promise<StreamEndpoint> {
    const request = { container_id: id, stdin: o.stdin, tty: o.tty, stdout: true, stderr: !o.tty, ...(kind === 'exec' ? { cmd: o.cmd ?? [] } : {}) };
    const { url } = await this.rt<{ url: string }>(kind === 'exec' ? 'Exec' : 'Attach', request, 120_000, overridesMetadata(o.overrides));
    return streamEndpoint(this.to, url);
  }

  /** docker exec -d: ExecSync with Coracle's detach, which returns once the command runs. */
  async execDetached(id: string, cmd: string[], overrides: ExecOverrides): Promise<void> {
    await this.rt('ExecSync', { container_id: id, cmd, timeout: 0 }, 120_000, overridesMetadata({ ...overrides, detach: true }));
  }

  /** ContainerStatus and its pod's status, verbose, as `inspect` shows them. */
  async inspect(c: CliContainer): Promise<Record<string, unknown>> {
    const s = await this.rt<{ status: unknown; info: Record<string, string> }>('ContainerStatus', { container_id: c.id, verbose: true });
    const p = c.podId ? await this.rt<{ status: unknown }>('PodSandboxStatus', { pod_sandbox_id: c.podId }).catch(() => ({ status: null })) : { status: null };
    return { ...c, status: s.status, info: Object.fromEntries(Object.entries(s.info).map(([k, v]) => [k, safeJson(v)])), pod: p.status };
  }

  async listImages(): Promise<{ id: string; repoTags: string[]; repoDigests: string[]; size: number }[]> {
    const r = await this.img<{ images: { id: string; repo_tags: string[]; repo_digests: string[]; size: string }[] }>('ListImages', {});
    return r.images.map((i) => ({ id: i.id, repoTags: i.repo_tags, repoDigests: i.repo_digests, size: Number(i.size) }));
  }

  /** The image `name` names (an id, id prefix, tag or repo digest), with its Entrypoint and Cmd; undefined when none. */
  async image(name: string): Promise<CliImage | undefined> {
    const s = await this.img<{ image: { id: string; repo_tags: string[]; repo_digests: string[] } | null; info: Record<string, string> }>('ImageStatus', { image: { image: name }, verbose: true });
    if (!s.image) return undefined;
    const record = safeJson(s.info.info ?? '{}') as { config?: { entrypoint?: unknown; cmd?: unknown } };
    const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
    return { id: s.image.id, repoTags: s.image.repo_tags, repoDigests: s.image.repo_digests, entrypoint: strings(record.config?.entrypoint), cmd: strings(record.config?.cmd) };
  }

  async removeImage(image: string): Promise<void> {
    await this.img('RemoveImage', { image: { image } });
  }
}

function overridesMetadata(o: ExecOverrides | undefined): grpc.Metadata {
  const m = new grpc.Metadata();
  if (o && Object.keys(o).length > 0) m.set(EXEC_OVERRIDES_METADATA, JSON.stringify(o));
  return m;
}

function safeJson(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

const STATE: Record<string, CliContainer['state']> = { CONTAINER_CREATED: 'created', CONTAINER_RUNNING: 'running', CONTAINER_EXITED: 'exited' };

function toCliContainer(s: ContainerStatus__Output, podId: string): CliContainer {
  const cli = s.labels[CLI_LABEL] === 'true';
  const json = <T>(text: string | undefined, fallback: T): T => {
    try {
      return text ? (JSON.parse(text) as T) : fallback;
    } catch {
      return fallback;
    }
  };
  return {
    id: s.id,
    podId,
    name: cli ? (s.labels[NAME_LABEL] ?? s.metadata?.name ?? '') : (s.metadata?.name ?? ''),
    cli,
    image: s.image?.image ?? '',
    imageId: s.image_id,
    command: json<string[]>(s.annotations[COMMAND_ANNOTATION], []),
    args: json<string[]>(s.annotations[ARGS_ANNOTATION], []),
    ports: json<string[]>(s.annotations[PORTS_ANNOTATION], []),
    state: STATE[s.state] ?? 'unknown',
    createdAt: nanosToMs(s.created_at),
    startedAt: nanosToMs(s.started_at),
    finishedAt: nanosToMs(s.finished_at),
    exitCode: s.exit_code,
    reason: s.reason,
    logPath: s.log_path,
    labels: s.labels,
    autoRemove: s.annotations[AUTO_REMOVE_ANNOTATION] === 'true',
  };
}
