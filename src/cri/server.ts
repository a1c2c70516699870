import type { Logger } from '../log.js';
import { unimplemented } from '../errors.js';
import { DEFAULT_NAMESPACE } from '../sandbox/object-namespace.js';
import { imageFsInfoHandler } from './image-fs-info.js';
import { listImagesHandler } from './image-list.js';
import { pullImageHandler } from './image-pull.js';
import { removeImageHandler } from './image-remove.js';
import { imageStatusHandler } from './image-status.js';
import { CORACLE_PROTO_PATH, CRI_PROTO_PATH, serviceDefinitions, type MethodDefinition } from './proto.js';
import { RpcServer, type CallHandler } from './rpc-server.js';
import { createContainerHandler } from './container-create.js';
import { execSyncHandler } from './container-exec-sync.js';
import { execHandler } from './container-exec.js';
import { attachHandler } from './container-attach.js';
import { portForwardHandler } from './sandbox-port-forward.js';
import { getContainerEventsHandler } from './container-events.js';
import { listMetricDescriptorsHandler, listPodSandboxMetricsHandler } from './metrics.js';
import { checkpointContainerHandler } from './container-checkpoint.js';
import { imageHistoryHandler } from './image-history.js';
import { untagImageHandler } from './image-untag.js';
import { tagImageHandler } from './image-tag.js';
import { copyFromContainerHandler } from './container-copy-from.js';
import { copyToContainerHandler } from './container-copy-to.js';
import { containerLogsHandler } from './container-logs.js';
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
import { Status } from './grpc-status.js';
import { runtimeConfigHandler } from './runtime-config.js';
import { statusHandler } from './status.js';
import { updateRuntimeConfigHandler } from './update-runtime-config.js';
import { versionHandler } from './version.js';
import type { CriServices } from './cri-services.js';
/** The services the CRI handlers call (the composition root imports them from here). */
export type { CriServices } from './cri-services.js';
import { namespaceView } from './namespace-view.js';
import { wrapClientStream, wrapServerStream, wrapUnary, type RpcObserve, type RpcObserver, type ServerStreamHandler, type UnaryHandler } from './wrap.js';
import type { CallCount } from '../util/call-count.js';


export interface CriServerOptions {
  maxReceiveMessageBytes: number;
  maxSendMessageBytes: number;
  /** Per-RPC metrics, when the daemon serves them. */
  rpcObserver?: RpcObserver;
  /** Counts the calls begun (util/call-count.ts). */
  calls?: CallCount;
}

// Handlers are stored untyped here; each factory is typed against its own generated types.
type AnyUnary = UnaryHandler<never, unknown>;
type AnyServerStream = ServerStreamHandler<never, unknown>;

/** Namespaces whose handlers are kept made; past it the oldest is made again when next asked for. */
const MAX_NAMESPACE_VIEWS = 32;

/**
 * Every handler of a call is built over its caller's namespace view (namespace-view.ts), once
 * per namespace: clients name a handful (kubelet's k8s.io, the CLI's coracle.cli).
 */
function perNamespace<H>(services: CriServices, build: (s: CriServices) => H): (ns: string) => H {
  const made = new Map<string, H>();
  return (ns) => {
    let h = made.get(ns);
    if (!h) {
      if (made.size >= MAX_NAMESPACE_VIEWS) made.delete(made.keys().next().value!);
      h = build(namespaceView(services, ns));
      made.set(ns, h);
    }
    return h;
  };
}

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
 * the rest an UNIMPLEMENTED that names the RPC, so that the log shows what was asked for.
 */
function implementation(
  service: Record<string, MethodDefinition>,
  serviceName: string,
  handlersFor: (ns: string) => Record<string, AnyUnary>,
  log: Logger,
  streamHandlersFor: (ns: string) => Record<string, AnyServerStream> = () => ({}),
  observer?: RpcObserver,
): Record<string, CallHandler> {
  const impl: Record<string, CallHandler> = {};
  // Which methods have a handler does not hang on the namespace: asked of the default one.
  const handlers = handlersFor(DEFAULT_NAMESPACE);
  const streamHandlers = streamHandlersFor(DEFAULT_NAMESPACE);
  for (const [name, method] of Object.entries(service)) {
    const observe = observer?.method(`runtime.v1.${serviceName}`, name);
    const handler: AnyUnary | undefined = handlers[name] && ((request, ctx) => handlersFor(ctx.namespace)[name]!(request, ctx));
    const streamHandler: AnyServerStream | undefined = streamHandlers[name] && ((request, write, ctx, headers) => streamHandlersFor(ctx.namespace)[name]!(request, write, ctx, headers));
    const missing = async (): Promise<never> => {
      throw unimplemented(`${serviceName}/${name} is not implemented by coracle yet`);
    };
    if (method.requestStream) {
      // CRI has no client-streaming RPCs; should one appear, it is refused all the same.
      impl[name] = (call) => call.end({ code: Status.UNIMPLEMENTED, details: `${serviceName}/${name} is not implemented by coracle` });
    } else if (method.responseStream) {
      impl[name] = wrapServerStream(name, log, (streamHandler ?? missing) as ServerStreamHandler<unknown, unknown>, observe);
    } else {
      impl[name] = wrapUnary(name, log, (handler ?? missing) as UnaryHandler<unknown, unknown>, observe);
    }
  }
  return impl;
}

type CopyFrom = ReturnType<typeof copyFromContainerHandler>;
type CopyTo = ReturnType<typeof copyToContainerHandler>;
type Logs = ReturnType<typeof containerLogsHandler>;

/** A handler that runs the one `pick` gives for the caller's namespace. */
function byNamespace<Req, Res>(pick: (ns: string) => UnaryHandler<Req, Res>): UnaryHandler<Req, Res> {
  return (request, ctx) => pick(ctx.namespace)(request, ctx);
}

/** The gRPC server, as the daemon holds it. */
export type CriServer = RpcServer;

/** Registers `impl`'s handler for each method of `service`; a method without one is a programming error. */
function addService(server: RpcServer, service: Record<string, MethodDefinition>, impl: Record<string, CallHandler>): void {
  for (const [name, method] of Object.entries(service)) {
    const handler = impl[name];
    if (!handler) throw new Error(`no handler for ${method.path}`);
    server.register(method, handler);
  }
}

export function createCriServer(
  services: CriServices,
  log: Logger,
  options: CriServerOptions,
): RpcServer {
  const cri = serviceDefinitions(CRI_PROTO_PATH);
  const server = new RpcServer(
    { maxReceiveMessageBytes: options.maxReceiveMessageBytes, maxSendMessageBytes: options.maxSendMessageBytes },
    // Debug: anything that connects and is not an HTTP/2 client (a port scan) says so.
    (err) => log.debug('CRI connection closed: protocol error', { error: err.message }),
    options.calls,
  );
  const runtime = cri['runtime.v1.RuntimeService']!;
  const image = cri['runtime.v1.ImageService']!;
  const observer = options.rpcObserver;
  addService(server, runtime, implementation(runtime, 'RuntimeService', perNamespace(services, runtimeHandlers), log, perNamespace(services, runtimeStreamHandlers), observer));
  addService(server, image, implementation(image, 'ImageService', perNamespace(services, imageHandlers), log, () => ({}), observer));
  const coracle = serviceDefinitions(CORACLE_PROTO_PATH)['coracle.v1.Coracle']!;
  const own = (method: string): RpcObserve | undefined => observer?.method('coracle.v1.Coracle', method);
  // The container calls of Coracle's own service, over the caller's namespace as the CRI's.
  const scoped = perNamespace(services, (s) => ({
    top: containerTopHandler(s.containers),
    commit: commitContainerHandler(s.containers),
    restart: restartContainerHandler(s.containers),
    signal: signalContainerHandler(s.containers),
    copyFrom: copyFromContainerHandler(s.containers),
    copyTo: copyToContainerHandler(s.containers),
    logs: containerLogsHandler(s.containers),
  }));
  addService(server, coracle, {
    ImportImages: wrapClientStream('ImportImages', log, importImagesHandler(services.images), own('ImportImages')),
    ExportImages: wrapServerStream('ExportImages', log, exportImagesHandler(services.images), own('ExportImages')),
    ImageHistory: wrapUnary('ImageHistory', log, imageHistoryHandler(services.images), own('ImageHistory')),
    ContainerTop: wrapUnary('ContainerTop', log, byNamespace((ns) => scoped(ns).top), own('ContainerTop')),
    CommitContainer: wrapUnary('CommitContainer', log, byNamespace((ns) => scoped(ns).commit), own('CommitContainer')),
    RestartContainer: wrapUnary('RestartContainer', log, byNamespace((ns) => scoped(ns).restart), own('RestartContainer')),
    PullImage: wrapServerStream('PullImage', log, pullImageProgressHandler(services.images), own('PullImage')),
    UntagImage: wrapUnary('UntagImage', log, untagImageHandler(services.images), own('UntagImage')),
    SignalContainer: wrapUnary('SignalContainer', log, byNamespace((ns) => scoped(ns).signal), own('SignalContainer')),
    TagImage: wrapUnary('TagImage', log, tagImageHandler(services.images), own('TagImage')),
    CopyFromContainer: wrapServerStream(
      'CopyFromContainer',
      log,
      (request: Parameters<CopyFrom>[0], write: Parameters<CopyFrom>[1], ctx) => scoped(ctx.namespace).copyFrom(request, write),
      own('CopyFromContainer'),
    ),
    CopyToContainer: wrapClientStream('CopyToContainer', log, (chunks: Parameters<CopyTo>[0], ctx) => scoped(ctx.namespace).copyTo(chunks, ctx), own('CopyToContainer')),
    ContainerLogs: wrapServerStream('ContainerLogs', log, (request: Parameters<Logs>[0], write: Parameters<Logs>[1], ctx, headers) => scoped(ctx.namespace).logs(request, write, ctx, headers), own('ContainerLogs')),
  });
  return server;
}
