import type { ContainerEvents } from '../container/container-events.js';
import type { ContainerService } from '../container/container-service.js';
import type { ImageService } from '../image/image-service.js';
import type { RuntimeSettings } from '../runtime/runtime-settings.js';
import type { RuntimeStatusService } from '../runtime/runtime-status.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';
import type { StreamingService } from '../streaming/streaming-service.js';

/** The services the CRI handlers call; the composition root provides them. */
export interface CriServices {
  runtimeStatus: Pick<RuntimeStatusService, 'status'>;
  settings: Pick<RuntimeSettings, 'setPodCidr'>;
  containers: Pick<ContainerService, 'resolve' | 'create' | 'start' | 'stop' | 'remove' | 'status' | 'list' | 'execSync' | 'checkpoint' | 'top' | 'commit' | 'restart' | 'signal' | 'copyFrom' | 'copyTo' | 'logs' | 'reopenLog' | 'stats' | 'listStats' | 'updateResources' | 'podStats' | 'podsStats'>;
  sandboxes: Pick<SandboxService, 'run' | 'stop' | 'remove' | 'status' | 'list' | 'resolve'>;
  images: Pick<ImageService, 'pull' | 'find' | 'list' | 'remove' | 'usage' | 'importArchive' | 'exportArchive' | 'history' | 'untag' | 'tag'>;
  streaming: Pick<StreamingService, 'exec' | 'attach' | 'portForward'>;
  events: Pick<ContainerEvents, 'subscribe'>;
}
