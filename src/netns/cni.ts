import { spawn } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CoracleError, isErrno } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { findExecutable } from '../util/executable.js';

/** A CNI network list, as a .conflist holds it. */
export interface CniNetwork {
  cniVersion: string;
  name: string;
  plugins: (Record<string, unknown> & { type: string; capabilities?: Record<string, boolean> })[];
}

/** A CNI result (spec 1.0), the parts a runtime reads. */
export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
  dns?: Record<string, unknown>;
}

export interface CniAttachment {
  containerId: string;
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs, e.g. K8S_POD_NAME. */
  args: [string, string][];
  /** runtimeConfig by capability, passed to the plugins that declare it. */
  capabilities: Record<string, unknown>;
}

/** What ADD leaves on disk for status, DEL and reconciliation: one file per interface. */
export interface CacheEntry {
  network: CniNetwork;
  attachment: CniAttachment;
  result: CniResult;
  /**
   * Set when the embedded network's fast path (embedded-net.ts) made the attachment, not
   * the plugin chain: its host veth and whether portmap ran. A daemon that predates the fast
   * path ignores it and tears the pod down with `network`'s plugins, which also works.
   */
  embedded?: { hostVeth: string; portmap: boolean };
}

/** A plugin's failure, with the message the plugin gave. */
export class CniError extends CoracleError {}

/**
 * Runs CNI plugin chains as libcni does: ADD through the list with each result passed on as
 * prevResult, DEL through it backwards. Each ADD's result is cached on disk with the network
 * it was made with, so that status reads it and DEL after a restart (or after the conf dir
 * changed) tears down exactly what was set up.
 */
export class CniRunner {
  constructor(
    private readonly binDirs: readonly string[],
    private readonly cacheDir: string,
  ) {}

  /** One attachment per interface of a container, whatever network it came from. */
  private cacheFile(a: Pick<CniAttachment, 'containerId' | 'ifName'>): string {
    return join(this.cacheDir, `${a.containerId}-${a.ifName}.json`);
  }

  /** Whether an ADD result is cached for `a`: whole, or torn by a power loss (DEL is due either way). */
  async isCached(a: Pick<CniAttachment, 'containerId' | 'ifName'>): Promise<boolean> {
    return (await this.cacheState(a)) !== undefined;
  }

  /** The ADD result cached for `a`; none when there is no cache, or a torn one. */
  async cached(a: Pick<CniAttachment, 'containerId' | 'ifName'>): Promise<CacheEntry | undefined> {
    const entry = await this.cacheState(a);
    return entry === 'torn' ? undefined : entry;
  }

  /**
   * The cache is written atomically but not fsynced (add()): after a power loss it may be
   * there and empty. That is 'torn', and DEL runs as without a cache, with the network it is
   * given (host-local releases by container id; the pod's netns and rules are gone with the
   * reboot), then removes it.
   */
  async cacheState(a: Pick<CniAttachment, 'containerId' | 'ifName'>): Promise<CacheEntry | 'torn' | undefined> {
    let text: string;
    try {
      text = await readFile(this.cacheFile(a), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    try {
      return JSON.parse(text) as CacheEntry;
    } catch {
      return 'torn';
    }
  }

  /**
   * Not fsynced: a killed daemon finds it whole (the page cache survives); a power loss may
   * leave it empty, which DEL handles (cacheState), and a lost one leaves the address lease,
   * which reconcile collects (PodNetwork.attachedIds).
   */
  async save(entry: CacheEntry): Promise<void> {
    await mkdir(this.cacheDir, { recursive: true });
    await writeFileAtomic(this.cacheFile(entry.attachment), JSON.stringify(entry));
  }

  async drop(a: Pick<CniAttachment, 'containerId' | 'ifName'>): Promise<void> {
    await rm(this.cacheFile(a), { force: true });
  }

  /** One plugin of `network`, as a step of a chain: the embedded fast path runs portmap so. */
  plugin(command: 'ADD' | 'DEL', network: CniNetwork, plugin: CniNetwork['plugins'][number], a: CniAttachment, prevResult: CniResult | undefined): Promise<CniResult | undefined> {
    return this.invoke(command, network, plugin, a, prevResult);
  }

  private async invoke(command: 'ADD' | 'DEL' | 'CHECK', network: CniNetwork, plugin: CniNetwork['plugins'][number], a: CniAttachment, prevResult: CniResult | undefined): Promise<CniResult | undefined> {
    const binary = await findExecutable(plugin.type, this.binDirs);
    if (!binary) {
      throw new CniError('FAILED_PRECONDITION', `CNI ${command} ${network.name}: plugin ${plugin.type} not found in ${this.binDirs.join(', ')}`);
    }
    const runtimeConfig: Record<string, unknown> = {};
    for (const [cap, enabled] of Object.entries(plugin.capabilities ?? {})) {
      if (enabled && a.capabilities[cap] !== undefined) runtimeConfig[cap] = a.capabilities[cap];
    }
    const conf = {
      ...plugin,
      name: network.name,
      cniVersion: network.cniVersion,
      ...(prevResult ? { prevResult } : {}),
      ...(Object.keys(runtimeConfig).length > 0 ? { runtimeConfig } : {}),
    };
    const env = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: a.containerId,
      CNI_NETNS: a.netns,
      CNI_IFNAME: a.ifName,
      CNI_ARGS: [['IgnoreUnknown', '1'], ...a.args].map(([k, v]) => `${k}=${v}`).join(';'),
      CNI_PATH: this.binDirs.join(':'),
    };
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(binary, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
      child.stdin.end(JSON.stringify(conf));
    });
    if (code !== 0) {
      let message = stdout.trim() || stderr.trim() || `exit ${code}`;
      try {
        const e = JSON.parse(stdout) as { msg?: string; details?: string };
        if (e.msg) message = e.details ? `${e.msg}: ${e.details}` : e.msg;
      } catch {
        // not JSON: the raw output is the message
      }
      throw new CniError('INTERNAL', `CNI ${command} ${network.name}: plugin ${plugin.type}: ${message}`);
    }
    if (command !== 'ADD') return undefined;
    try {
      return JSON.parse(stdout) as CniResult;
    } catch {
      throw new CniError('INTERNAL', `CNI ADD ${network.name}: plugin ${plugin.type}: result is not JSON`);
    }
  }

  async add(network: CniNetwork, a: CniAttachment): Promise<CniResult> {
    let result: CniResult | undefined;
    for (const plugin of network.plugins) {
      result = (await this.invoke('ADD', network, plugin, a, result)) ?? result;
    }
    if (!result) throw new CniError('INTERNAL', `CNI ADD ${network.name}: no result`);
    await this.save({ network, attachment: a, result });
    return result;
  }

  /**
   * DEL with the network and result cached by ADD when there is one (the conf dir may have
   * changed since), else with `network`; with neither there is nothing to undo. Plugins
   * treat a missing netns or a released address as done, so DEL is safe to repeat.
   */
  async del(network: CniNetwork | undefined, a: CniAttachment): Promise<void> {
    const cache = await this.cached(a);
    const net = cache?.network ?? network;
    if (!net) return;
    const attachment = cache ? { ...cache.attachment, netns: a.netns } : a;
    for (const plugin of [...net.plugins].reverse()) {
      await this.invoke('DEL', net, plugin, attachment, cache?.result);
    }
    await this.drop(a);
  }
}
