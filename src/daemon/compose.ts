import type { Config } from '../config/schema.js';
import type { CriServices } from '../cri/server.js';
import { probeCni } from '../netns/cni-probe.js';
import { RuntimeHandlers } from '../oci/runtime-handlers.js';
import { RuntimeSettings } from '../runtime/runtime-settings.js';
import { RuntimeStatusService } from '../runtime/runtime-status.js';

/**
 * The composition root: the one place that knows which implementation backs which
 * interface. Tests build the same graph over a temp root through the same function.
 */
export async function composeServices(config: Config): Promise<CriServices> {
  const settings = new RuntimeSettings(config.state);
  await settings.load();
  const handlers = new RuntimeHandlers(config.runtime);
  const runtimeStatus = new RuntimeStatusService({
    config,
    handlers,
    probeNetwork: () => probeCni(config.cni.conf_dir, config.cni.bin_dirs),
    podCidr: () => settings.podCidr,
  });
  return { runtimeStatus, settings };
}
