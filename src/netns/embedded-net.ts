import { join } from 'node:path';
import { CoracleError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import type { Cidr } from '../util/cidr.js';
import { UndoStack } from '../util/undo-stack.js';
import type { CacheEntry, CniAttachment, CniNetwork, CniResult, CniRunner } from './cni.js';
import { HostLocalIpam } from './host-local-ipam.js';
import { ensureMasquerade } from './masquerade.js';
import type { NetHelper } from './net-helper.js';

export interface EmbeddedNetOptions {
  /** The embedded network as a conflist (cni-config.ts): its name, bridge and portmap. */
  network: CniNetwork;
  bridge: string;
  subnet: Cidr;
  /** host-local's dataDir: the leases are under DIR/<network name>. */
  ipamDir: string;
  runner: CniRunner;
  helper: NetHelper;
  log: Logger;
}

/**
 * The embedded network without the plugin chain: what bridge + host-local + loopback did in
 * three execs and a dozen iptables calls (~40 ms), done by IPAM in process and one exec of
 * coracle-net (a few ms), with one masquerade rule for the subnet (masquerade.ts). The
 * outcome is the same: an address from host-local's files, the veth on the bridge, the
 * default route; hostPorts still go through the real portmap plugin. The result is cached in
 * CniRunner's format, with `embedded` set, so status, DEL after a restart and
 * reconciliation read it as any other.
 *
 * DEL takes the host veth off the bridge instead of deleting the pair (deleting costs an RCU
 * wait, ~25 ms): once off the bridge and down, the pod's eth0 reaches no one and no one
 * reaches it, so its address can go to the next pod at once though the old eth0 still
 * holds it. The pair itself goes with the pod's netns when RemovePodSandbox unpins it (or
 * at once, for the failed or half-made pods that are unpinned right after DEL).
 */
export class EmbeddedNet {
  private readonly ipam: HostLocalIpam;
  private masquerade: Promise<void> | undefined;
  /**
   * The network as the cache names it: the same chain with no masquerade of the bridge
   * plugin's own, which is the truth (the network's rule does it), so that a daemon that
   * predates the fast path tears the pod down with the plugins without failing on a per-pod
   * masquerade chain that was never made.
   */
  private readonly cachedNetwork: CniNetwork;

  constructor(private readonly o: EmbeddedNetOptions) {
    this.ipam = new HostLocalIpam(join(o.ipamDir, o.network.name), o.subnet);
    this.cachedNetwork = { ...o.network, plugins: o.network.plugins.map((p) => (p.type === 'bridge' ? { ...p, ipMasq: false } : p)) };
  }

  /** The fast path handles IPv4 subnets with room for a gateway and a pod. */
  static supports(subnet: Cidr): boolean {
    return subnet.family === 4 && subnet.prefix >= 1 && subnet.prefix <= 30;
  }

  /** The host end of a pod's pair: from its id, so that DEL finds it without a cache. */
  static hostVeth(containerId: string): string {
    return `cor${containerId.slice(0, 12)}`;
  }

  /** One masquerade setup per daemon; a failed one is tried again at the next ADD. */
  private ensureMasquerade(): Promise<void> {
    this.masquerade ??= ensureMasquerade(this.o.bridge, `${this.o.subnet.address}/${this.o.subnet.prefix}`).catch((err: unknown) => {
      this.masquerade = undefined;
      throw err;
    });
    return this.masquerade;
  }

  private portmap(): CniNetwork['plugins'][number] | undefined {
    return this.o.network.plugins.find((p) => p.type === 'portmap');
  }

  /**
   * ADD on eth0 (and lo). Order, for kill -9 safety: the lease first (a lease with no cache
   * is found by reconciliation, and DEL without a cache scans the leases by id), then the
   * veth (named from the id, so DEL finds it), then the cache, and portmap only after the
   * cache says it ran (so that a DEL after a crash runs portmap's DEL).
   */
  async add(a: CniAttachment): Promise<CniResult> {
    const what = `CNI ADD ${this.o.network.name} (embedded)`;
    const undo = new UndoStack();
    try {
      await this.ensureMasquerade();
      const lease = await this.ipam.allocate(a.containerId, a.ifName);
      undo.push('release address', () => this.ipam.release(a.containerId, a.ifName, lease.address));
      const hostVeth = EmbeddedNet.hostVeth(a.containerId);
      // Before the helper: one killed half-way (timeout) may have made the pair.
      undo.push('detach veth', () => this.o.helper.detach(this.o.bridge, hostVeth, what));
      const made = await this.o.helper.add(
        { netns: a.netns, bridge: this.o.bridge, hostVeth, ifName: a.ifName, address: `${lease.address}/${lease.prefix}`, gateway: lease.gateway, mac: macOf(lease.address) },
        what,
      );
      const result: CniResult = {
        cniVersion: this.o.network.cniVersion,
        interfaces: [
          { name: this.o.bridge, mac: made.bridgeMac },
          { name: made.hostVeth, mac: made.hostMac },
          { name: a.ifName, mac: made.mac, sandbox: a.netns },
        ],
        ips: [{ address: `${lease.address}/${lease.prefix}`, gateway: lease.gateway, interface: 2 }],
        routes: [{ dst: '0.0.0.0/0', gw: lease.gateway }],
        dns: {},
      };
      const portmap = this.portmap();
      const mapped = portmap !== undefined && a.capabilities.portMappings !== undefined;
      await this.o.runner.save({ network: this.cachedNetwork, attachment: a, result, embedded: { hostVeth, portmap: mapped } });
      undo.push('drop cached result', () => this.o.runner.drop(a));
      if (mapped) {
        undo.push('portmap DEL', () => this.o.runner.plugin('DEL', this.o.network, portmap, a, result));
        await this.o.runner.plugin('ADD', this.o.network, portmap, a, result);
      }
      undo.clear();
      return result;
    } catch (err) {
      await undo.unwind(this.o.log);
      throw err;
    }
  }

  /**
   * DEL: portmap if the pod had it, the veth off the bridge, the lease released, then the
   * cache dropped; each step is one that finds nothing to do the second time. Without a
   * cache (a crash inside ADD) the names come from the id and the leases are all read.
   */
  async del(a: CniAttachment, cache: CacheEntry | undefined): Promise<void> {
    const what = `CNI DEL ${this.o.network.name} (embedded)`;
    const portmap = this.portmap();
    const mapped = cache ? cache.embedded?.portmap === true : a.capabilities.portMappings !== undefined;
    const attachment = cache ? { ...cache.attachment, netns: a.netns } : a;
    if (portmap && mapped) await this.o.runner.plugin('DEL', this.o.network, portmap, attachment, cache?.result);
    const hint = cache?.result.ips?.[0]?.address.split('/')[0];
    const hostVeth = cache?.embedded?.hostVeth ?? EmbeddedNet.hostVeth(a.containerId);
    const steps = await Promise.allSettled([this.o.helper.detach(this.o.bridge, hostVeth, what), this.ipam.release(a.containerId, a.ifName, hint)]);
    const failed = steps.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason instanceof CoracleError ? failed.reason : new CoracleError('INTERNAL', `${what}: ${messageOf(failed.reason)}`, { cause: failed.reason });
    await this.o.runner.drop(a);
  }
}

/**
 * The pod's MAC from its address, 0a:58 then the four octets (as the bridge plugin once
 * did): an address handed to a new pod keeps its MAC, so no neighbour holds a stale one.
 */
function macOf(ip: string): string {
  return ['0a', '58', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}
