import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Config } from '../config/schema.js';
import { messageOf } from '../errors.js';
import type { CniProbe } from '../netns/cni-probe.js';
import { describeCgroups, type CgroupHost } from '../oci/cgroup-host.js';
import type { ResolvedHandler } from '../oci/runtime-handlers.js';

export interface Condition {
  type: 'RuntimeReady' | 'NetworkReady';
  status: boolean;
  reason: string;
  message: string;
}

export interface HandlerFeatures {
  name: string;
  recursiveReadOnlyMounts: boolean;
  userNamespaces: boolean;
}

export interface RuntimeStatus {
  conditions: Condition[];
  handlers: HandlerFeatures[];
  /** Verbose only: JSON documents by key, as `crictl info` shows them. */
  info: Record<string, string>;
}

/** What the status service needs to know of the rest of the daemon. */
export interface StatusDeps {
  config: Config;
  handlers: {
    defaultName: string;
    resolve(name: string): Promise<ResolvedHandler | undefined>;
    resolveAll(): Promise<ResolvedHandler[]>;
  };
  probeNetwork(): Promise<CniProbe>;
  podCidr(): readonly string[];
  /** The host's cgroups, as detected at start. */
  cgroups: CgroupHost;
}

async function writableDir(path: string): Promise<string | undefined> {
  try {
    await access(path, constants.W_OK | constants.X_OK);
    return undefined;
  } catch (err) {
    return messageOf(err);
  }
}

/**
 * Computes the runtime's conditions from the host as it is at the call: the default
 * runtime binary is there and the daemon's dirs are writable; a CNI network and all of its
 * plugin binaries exist. Nothing is cached, so fixing the host fixes the status.
 */
export class RuntimeStatusService {
  constructor(private readonly deps: StatusDeps) {}

  private async runtimeCondition(): Promise<Condition> {
    const { config, handlers } = this.deps;
    const name = handlers.defaultName;
    const resolved = await handlers.resolve(name);
    const problems: string[] = [];
    if (!resolved?.path) {
      problems.push(`default runtime handler ${name}: OCI runtime "${resolved?.configured ?? '?'}" not found`);
    }
    for (const dir of [config.root, config.state]) {
      const err = await writableDir(dir);
      if (err) problems.push(`${dir}: ${err}`);
    }
    return problems.length === 0
      ? { type: 'RuntimeReady', status: true, reason: '', message: '' }
      : { type: 'RuntimeReady', status: false, reason: 'RuntimeNotReady', message: problems.join('; ') };
  }

  async status(verbose: boolean): Promise<RuntimeStatus> {
    const [runtime, cni, resolved] = await Promise.all([
      this.runtimeCondition(),
      this.deps.probeNetwork(),
      this.deps.handlers.resolveAll(),
    ]);
    const network: Condition = cni.ready
      ? { type: 'NetworkReady', status: true, reason: '', message: '' }
      : { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: cni.message };
    // Features are what Coracle itself implements, not what the binary could do.
    const features = (name: string): HandlerFeatures => ({
      name,
      recursiveReadOnlyMounts: false,
      userNamespaces: false,
    });
    const handlers = [features(''), ...resolved.filter((h) => h.path).map((h) => features(h.name))];
    const info: Record<string, string> = {};
    if (verbose) {
      info.config = JSON.stringify(this.deps.config);
      info.runtimeHandlers = JSON.stringify({
        default: this.deps.handlers.defaultName,
        handlers: resolved,
      });
      info.cni = JSON.stringify(cni);
      info.podCIDR = JSON.stringify(this.deps.podCidr());
      info.cgroups = JSON.stringify(describeCgroups(this.deps.cgroups));
    }
    return { conditions: [runtime, network], handlers, info };
  }
}
