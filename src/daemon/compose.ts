import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { ContainerService } from '../container/container-service.js';
import { ContainerStore } from '../container/container-store.js';
import { ContainerEvents } from '../container/container-events.js';
import { capabilitiesOf } from '../oci/defaults.js';
import { detectCgroups } from '../oci/cgroup-host.js';
import { OciRuntime } from '../oci/runtime.js';
import { findExecutable } from '../util/executable.js';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { CriServices } from '../cri/server.js';
import { FileContentStore } from '../image/content-store.js';
import { ImageService, type PullMetrics } from '../image/image-service.js';
import { ImageStore } from '../image/image-store.js';
import { hostPlatform } from '../image/manifest.js';
import { RegistryClient } from '../image/registry-client.js';
import { DirSnapshotter } from '../image/dir-snapshotter.js';
import { UnpackPool } from '../image/unpack-pool.js';
import { HeapGrowth } from '../util/heap-growth.js';
import type { Logger } from '../log.js';
import { CniRunner } from '../netns/cni.js';
import { earlierOwnConfig, loadNetwork, writeOwnNetwork } from '../netns/cni-config.js';
import { probeCni } from '../netns/cni-probe.js';
import { PodNetwork } from '../netns/pod-network.js';
import { EmbeddedNet } from '../netns/embedded-net.js';
import { NetHelper } from '../netns/net-helper.js';
import { parseCidr } from '../util/cidr.js';
import { pinNamespaces, unpinNamespaces } from '../sandbox/namespace-pins.js';
import { PodInfra } from '../sandbox/pod-infra.js';
import { SandboxService } from '../sandbox/sandbox-service.js';
import { SandboxStore } from '../sandbox/sandbox-store.js';
import { RuntimeHandlers } from '../oci/runtime-handlers.js';
import { RuntimeSettings } from '../runtime/runtime-settings.js';
import { RuntimeStatusService } from '../runtime/runtime-status.js';
import { StreamingService, type SessionCounts } from '../streaming/streaming-service.js';
import { recover } from './recover.js';
import { CliContainerWatcher } from './cli-container-watcher.js';
import type { CallCount } from '../util/call-count.js';

/**
 * How long a stopping daemon waits for the snapshot trees it removed to be deleted. What is
 * not deleted by then stays under its `tmp-rm-` name, which the next start's init collects:
 * an image layer's rm child goes on without the daemon (unless the supervisor ends the whole
 * cgroup), a container layer deleted in the daemon stops half-way. Nothing is lost by not
 * waiting longer, and a supervisor's stop timeout is not spent on it.
 */
const DELETIONS_AT_STOP_MS = 5_000;

/** What the daemon's metrics are told as things happen (absent with metrics off). */
export interface Recorders {
  pulls: PullMetrics;
  oomKill: () => void;
}

export interface Services extends CriServices {
  /** Streaming sessions by kind, for the metrics. */
  streamingSessions(): SessionCounts;
  /** Serves a connection the TCP listener admitted for streaming, as the streaming server's own. */
  acceptStreamingConnection(socket: Socket): void;
  /** Ends the calls that would otherwise stay open (event streams, logs followed), before the server stops. */
  endStreams(): void;
  /** Releases what the services hold (worker threads, connection pools). */
  close(): Promise<void>;
}

/**
 * The composition root: the one place that knows which implementation backs which
 * interface. Tests build the same graph over a temp root through the same function.
 */
export async function composeServices(config: Config, log: Logger, recorders?: Recorders, calls?: CallCount): Promise<Services> {
  const settings = new RuntimeSettings(config.state);
  await settings.load();
  const handlers = new RuntimeHandlers(config.runtime);
  // Coracle's own network lives under its root; CRI pods use the cluster's conf dir unless
  // pod_network names the own one.
  const cniRoot = join(config.root, 'cni');
  const ownCniConfDir = join(cniRoot, 'net.d');
  const podsOnEmbedded = config.cni.pod_network === config.cni.network_name;
  // Once: the layout does not change under a running daemon.
  const cgroups = await detectCgroups();
  log.info('cgroups detected', { layout: cgroups.layout, controllers: cgroups.controllers });
  const runtimeStatus = new RuntimeStatusService({
    config,
    handlers,
    probeNetwork: () => probeCni(podsOnEmbedded ? ownCniConfDir : config.cni.conf_dir, config.cni.bin_dirs),
    podCidr: () => settings.podCidr,
    cgroups,
  });

  const imageRoot = join(config.root, 'image');
  const heapGrowth = new HeapGrowth();
  const content = new FileContentStore(join(imageRoot, 'content'));
  await content.init();
  // A worker for each download in flight, so that each layer is unpacked as it comes rather
  // than read back from the disk after (workers mostly wait on the network and the disk: on
  // 2 cores, 3 made bench/pull's zstd pull 0.9x the time of 2), and at most one per core more.
  const downloads = config.image.max_concurrent_downloads;
  const pool = new UnpackPool(Math.max(1, Math.min(downloads, availableParallelism() + 1)));
  const snapshots = new DirSnapshotter(join(imageRoot, 'snapshots'), pool, log, calls);
  await snapshots.init();
  const store = new ImageStore(join(imageRoot, 'images'), log);
  await store.init();
  const registry = new RegistryClient({
    headersTimeoutMs: 30_000,
    progressTimeoutMs: config.image.pull_progress_timeout * 1000,
    attempts: 3,
  });
  // Containers hold their image's layers through their active snapshots: collection asks the snapshotter.
  const images = new ImageService({
    store,
    content,
    snapshots,
    registry,
    hosts: config.registry.hosts,
    ...(config.registry.config_path ? { credentialsFile: config.registry.config_path } : {}),
    maxConcurrentDownloads: config.image.max_concurrent_downloads,
    platform: hostPlatform(),
    root: imageRoot,
    log,
    metrics: recorders?.pulls,
    duringPull: () => heapGrowth.widen(),
  });
  const embedded = await writeOwnNetwork(ownCniConfDir, {
    name: config.cni.network_name,
    bridge: config.cni.bridge,
    subnet: config.cni.pod_subnet,
    ipamDir: join(cniRoot, 'networks'),
  });
  const earlier = await earlierOwnConfig(config.cni.conf_dir, config.cni.network_name);
  if (earlier) {
    log.warn("the cluster's CNI conf dir holds the config an earlier Coracle wrote there: CRI pods take it for the cluster's network; remove it", { file: earlier });
  }
  const cniCache = join(cniRoot, 'results');
  const cniRunner = new CniRunner(config.cni.bin_dirs, cniCache);
  // The schema has vetted the subnet; an IPv6 one keeps the plugin chain.
  const subnet = parseCidr(config.cni.pod_subnet);
  const fast =
    typeof subnet !== 'string' && EmbeddedNet.supports(subnet)
      ? new EmbeddedNet({ network: embedded, bridge: config.cni.bridge, subnet, ipamDir: join(cniRoot, 'networks'), runner: cniRunner, helper: new NetHelper(config.cni.bin_dirs), log })
      : undefined;
  const network = new PodNetwork(cniRunner, { cluster: () => loadNetwork(config.cni.conf_dir), embedded }, cniCache, join(cniRoot, 'networks'), fast);
  const sandboxStore = new SandboxStore(join(config.root, 'sandboxes'), log);
  await sandboxStore.init();
  const runtimes = new Map<string, OciRuntime>();
  for (const [name, h] of Object.entries(config.runtime.handlers)) {
    const path = await findExecutable(h.path);
    if (path) runtimes.set(name, new OciRuntime(name, path, join(config.state, 'runtime', name)));
  }
  const events = new ContainerEvents();
  const containerStore = new ContainerStore(join(config.root, 'containers'), log);
  await containerStore.init();
  const containers = new ContainerService({
    store: containerStore,
    stateDir: join(config.state, 'containers'),
    sandboxes: { get: (id) => sandboxStore.get(id), podDir: (id) => sandboxStore.dir(id) },
    images,
    snapshots,
    runtime: (handler) => runtimes.get(handler || config.runtime.default_handler),
    ownOomScoreAdj: Number((await readFile('/proc/self/oom_score_adj', 'utf8')).trim()),
    allCapabilities: capabilitiesOf(/CapBnd:\s*([0-9a-f]+)/.exec(await readFile('/proc/self/status', 'utf8'))?.[1] ?? '0'),
    cgroups,
    events,
    log,
    onOomKill: recorders?.oomKill,
  });
  // Before recovery: an exit conmon writes while the records are reconciled is seen.
  await containers.watchExits();
  const sandboxes = new SandboxService({
    store: sandboxStore,
    containers,
    infra: new PodInfra(config.state, (handler) => runtimes.get(handler || config.runtime.default_handler), cgroups),
    stateDir: config.state,
    defaultNetwork: podsOnEmbedded ? 'embedded' : 'cluster',
    network,
    pins: { pin: pinNamespaces, unpin: unpinNamespaces },
    handlers: { has: (name) => name in config.runtime.handlers },
    events,
    log,
  });
  // Before recovery, so that it sees the exits recovery reads; it acts on them after.
  const cliWatcher = new CliContainerWatcher({ events, containers, sandboxes, root: config.root, log });
  await recover({ root: config.root, containers, sandboxes, log });
  cliWatcher.resume();
  const streaming = new StreamingService({
    containers,
    sandboxes,
    address: config.streaming.address,
    idleTimeoutMs: config.streaming.idle_timeout * 1000,
    handshakeTimeoutMs: config.streaming.handshake_timeout * 1000,
    streamCreationTimeoutMs: config.streaming.stream_creation_timeout * 1000,
    limits: {
      maxHeaderBytes: config.streaming.max_header_bytes,
      maxStreams: config.streaming.max_streams_per_connection,
      maxBufferedBytes: config.streaming.max_buffered_bytes,
      maxTotalBufferedBytes: config.streaming.max_total_buffered_bytes,
      maxConnections: config.streaming.max_connections,
      maxPendingConnections: config.streaming.max_pending_connections,
    },
    log,
  });
  await streaming.start();

  return {
    runtimeStatus,
    settings,
    images,
    sandboxes,
    containers,
    streaming,
    events,
    streamingSessions: () => streaming.sessions(),
    acceptStreamingConnection: (socket) => streaming.acceptConnection(socket),
    endStreams: () => {
      events.close();
      containers.endFollows();
    },
    async close() {
      cliWatcher.close();
      events.close();
      await containers.close();
      sandboxes.close();
      await streaming.close();
      await snapshots.settled(DELETIONS_AT_STOP_MS);
      await pool.close();
      await registry.close();
    },
  };
}
