import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log.js';
import { unimplemented } from '../errors.js';
import type { RuntimeStatusService } from '../runtime/runtime-status.js';
import type { RuntimeSettings } from '../runtime/runtime-settings.js';
import type { ImageService } from '../image/image-service.js';
import { imageFsInfoHandler } from './image-fs-info.js';
import { listImagesHandler } from './image-list.js';
import { pullImageHandler } from './image-pull.js';
import { removeImageHandler } from './image-remove.js';
import { imageStatusHandler } from './image-status.js';
import { loadCoracleProto, loadCriProto } from './proto.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';
import type { ContainerService } from '../container/container-service.js';
import { createContainerHandler } from './container-create.js';
import { execSyncHandler } from './container-exec-sync.js';
import { execHandler } from './container-exec.js';
import { attachHandler } from './container-attach.js';
import { portForwardHandler } from './sandbox-port-forward.js';
import type { StreamingService } from '../streaming/streaming-service.js';
import type { ContainerEvents } from '../container/container-events.js';
import { getContainerEventsHandler } from './container-events.js';
import { listMetricDescriptorsHandler, listPodSandboxMetricsHandler } from './metrics.js';
import { checkpointContainerHandler } from './container-checkpoint.js';
import { imageHistoryHandler } from './image-history.js';
import { untagImageHandler } from './image-untag.js';
import { tagImageHandler } from './image-tag.js';
import { copyFromContainerHandler } from './container-copy-from.js';
import { copyToContainerHandler } from './container-copy-to.js';
import { containerTopHandler } from './container-top.js';
import { commitContainerHandler } from './container-commit.js';
import { restartContainerHandler } from './container-restart.js';
import { signalContainerHandler } from './container-signal.js';
import { pullImageProgressHandler } from './image-pull-progress.js';
import { updateContainerResourcesHandler } from './container-update.js';
import { listPodSandboxStatsHandler, podSandboxStatsHandler } from './sandbox-stats.js';
import { containerStatsHandler, listContainerStatsHandler } from './container-stats.js';
import { reopenContainerLogHandler } from './container-reopen-log.js';
import { listContainersHandler } from './container-list.js';
import { removeContainerHandler } from './container-remove.js';
import { startContainerHandler } from './container-start.js';
import { containerStatusHandler } from './container-status.js';
import { stopContainerHandler } from './container-stop.js';
import { listPodSandboxHandler } from './sandbox-list.js';
import { removePodSandboxHandler } from './sandbox-remove.js';
import { runPodSandboxHandler } from './sandbox-run.js';
import { podSandboxStatusHandler } from './sandbox-status.js';
import { stopPodSandboxHandler } from './sandbox-stop.js';
import { exportImagesHandler } from './images-export.js';
import { importImagesHandler } from './images-import.js';
import { toGrpcError } from './status-map.js';
import { runtimeConfigHandler } from './runtime-config.js';
import { statusHandler } from './status.js';
import { updateRuntimeConfigHandler } from './update-runtime-config.js';
import { versionHandler } from './version.js';
import { wrapClientStream, wrapServerStream, wrapUnary, type RpcObserve, type RpcObserver, type ServerStreamHandler, type UnaryHandler } from './wrap.js';

/** The services the CRI handlers call; the composition root provides them. */
export interface CriServices {
  runtimeStatus: Pick<RuntimeStatusService, 'status'>;
  settings: Pick<RuntimeSettings, 'setPodCidr'>;
  containers: Pick<ContainerService, 'create' | 'start' | 'stop' | 'remove' | 'status' | 'list' | 'execSync' | 'checkpoint' | 'top' | 'commit' | 'restart' | 'signal' | 'copyFrom' | 'copyTo' | 'reopenLog' | 'stats' | 'listStats' | 'updateResources' | 'podStats' | 'podsStats'>;
  sandboxes: Pick<SandboxService, 'run' | 'stop' | 'remove' | 'status' | 'list' | 'resolve'>;
  images: Pick<ImageService, 'pull' | 'find' | 'list' | 'remove' | 'usage' | 'importArchive' | 'exportArchive' | 'history' | 'untag' | 'tag'>;
  streaming: Pick<StreamingService, 'exec' | 'attach' | 'portForward'>;
  events: Pick<ContainerEvents, 'subscribe'>;
}

export interface CriServerOptions {
  maxReceiveMessageBytes: number;
  maxSendMessageBytes: number;
  /** Per-RPC metrics, when the daemon serves them. */
  rpcObserver?: RpcObserver;
}

// Handlers are stored untyped here; each factory is typed against its own generated types.
type AnyUnary = UnaryHandler<never, unknown>;
type AnyServerStream = ServerStreamHandler<never, unknown>;

function runtimeStreamHandlers(s: CriServices): Record<string, AnyServerStream> {
  return {
    GetContainerEvents: getContainerEventsHandler(s.events, s.sandboxes, s.containers),
  } as Record<string, AnyServerStream>;
}

function runtimeHandlers(s: CriServices): Record<string, AnyUnary> {
  return {
    Version: versionHandler(),
    Status: statusHandler(s.runtimeStatus),
    RuntimeConfig: runtimeConfigHandler(),
    UpdateRuntimeConfig: updateRuntimeConfigHandler(s.settings),
    RunPodSandbox: runPodSandboxHandler(s.sandboxes),
    StopPodSandbox: stopPodSandboxHandler(s.sandboxes),
    RemovePodSandbox: removePodSandboxHandler(s.sandboxes),
    PodSandboxStatus: podSandboxStatusHandler(s.sandboxes),
    ListPodSandbox: listPodSandboxHandler(s.sandboxes),
    CreateContainer: createContainerHandler(s.containers),
    StartContainer: startContainerHandler(s.containers),
    StopContainer: stopContainerHandler(s.containers),
    RemoveContainer: removeContainerHandler(s.containers),
    ContainerStatus: containerStatusHandler(s.containers),
    ListContainers: listContainersHandler(s.containers),
    ExecSync: execSyncHandler(s.containers),
    Exec: execHandler(s.streaming),
    Attach: attachHandler(s.streaming),
    PortForward: portForwardHandler(s.streaming),
    ReopenContainerLog: reopenContainerLogHandler(s.containers),
    ContainerStats: containerStatsHandler(s.containers),
    ListContainerStats: listContainerStatsHandler(s.containers),
    UpdateContainerResources: updateContainerResourcesHandler(s.containers),
    PodSandboxStats: podSandboxStatsHandler(s.sandboxes, s.containers),
    ListPodSandboxStats: listPodSandboxStatsHandler(s.sandboxes, s.containers),
    ListMetricDescriptors: listMetricDescriptorsHandler(),
    CheckpointContainer: checkpointContainerHandler(s.containers),
    ListPodSandboxMetrics: listPodSandboxMetricsHandler(s.sandboxes, s.containers),
  } as Record<string, AnyUnary>;
}

function imageHandlers(s: CriServices): Record<string, AnyUnary> {
  return {
    PullImage: pullImageHandler(s.images),
    ImageStatus: imageStatusHandler(s.images),
    ListImages: listImagesHandler(s.images),
    RemoveImage: removeImageHandler(s.images),
    ImageFsInfo: imageFsInfoHandler(s.images),
  } as Record<string, AnyUnary>;
}

/**
 * Every method of `service` gets a wrapped handler: the implemented ones from `handlers`,
 * the rest an UNIMPLEMENTED that names the RPC, so that a client never sees grpc-js's
 * anonymous default and the log shows what was asked for.
 */
function implementation(
  service: grpc.ServiceDefinition,
  serviceName: string,
  handlers: Record<string, AnyUnary>,
  log: Logger,
  streamHandlers: Record<string, AnyServerStream> = {},
  observer?: RpcObserver,
): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(service)) {
    const observe = observer?.method(`runtime.v1.${serviceName}`, name);
    const handler = handlers[name];
    const missing = async (): Promise<never> => {
      throw unimplemented(`${serviceName}/${name} is not implemented by coracle yet`);
    };
    if (method.requestStream) {
      // CRI has no client-streaming RPCs; should one appear, it is refused all the same.
      impl[name] = (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
        callback(toGrpcError(unimplemented(`${serviceName}/${name} is not implemented by coracle`)));
    } else if (method.responseStream) {
      impl[name] = wrapServerStream(name, log, (streamHandlers[name] ?? missing) as ServerStreamHandler<unknown, unknown>, observe);
    } else {
      impl[name] = wrapUnary(name, log, (handler ?? missing) as UnaryHandler<unknown, unknown>, observe);
    }
  }
  return impl;
}

/** The gRPC server, as the daemon holds it (only src/cri names grpc-js). */
export type CriServer = grpc.Server;

export function createCriServer(
  services: CriServices,
  log: Logger,
  options: CriServerOptions,
): grpc.Server {
  const proto = loadCriProto();
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes,
    'grpc.max_send_message_length': options.maxSendMessageBytes,
  });
  const runtime = proto.runtime.v1.RuntimeService.service;
  const image = proto.runtime.v1.ImageService.service;
  const observer = options.rpcObserver;
  server.addService(runtime, implementation(runtime, 'RuntimeService', runtimeHandlers(services), log, runtimeStreamHandlers(services), observer));
  server.addService(image, implementation(image, 'ImageService', imageHandlers(services), log, {}, observer));
  const coracle = loadCoracleProto().coracle.v1.Coracle.service;
  const own = (method: string): RpcObserve | undefined => observer?.method('coracle.v1.Coracle', method);
  server.addService(coracle, {
    ImportImages: wrapClientStream('ImportImages', log, importImagesHandler(services.images), own('ImportImages')),
    ExportImages: wrapServerStream('ExportImages', log, exportImagesHandler(services.images), own('ExportImages')),
    ImageHistory: wrapUnary('ImageHistory', log, imageHistoryHandler(services.images), own('ImageHistory')),
    ContainerTop: wrapUnary('ContainerTop', log, containerTopHandler(services.containers), own('ContainerTop')),
    CommitContainer: wrapUnary('CommitContainer', log, commitContainerHandler(services.containers), own('CommitContainer')),
    RestartContainer: wrapUnary('RestartContainer', log, restartContainerHandler(services.containers), own('RestartContainer')),
    PullImage: wrapServerStream('PullImage', log, pullImageProgressHandler(services.images), own('PullImage')),
    UntagImage: wrapUnary('UntagImage', log, untagImageHandler(services.images), own('UntagImage')),
    SignalContainer: wrapUnary('SignalContainer', log, signalContainerHandler(services.containers), own('SignalContainer')),
    TagImage: wrapUnary('TagImage', log, tagImageHandler(services.images), own('TagImage')),
    CopyFromContainer: wrapServerStream('CopyFromContainer', log, copyFromContainerHandler(services.containers), own('CopyFromContainer')),
    CopyToContainer: wrapClientStream('CopyToContainer', log, copyToContainerHandler(services.containers), own('CopyToContainer')),
  } as grpc.UntypedServiceImplementation);
  return server;
}
