import { readdir, readFile } from 'node:fs/promises';
import { isIP, isIPv4 } from 'node:net';
import { join } from 'node:path';
import { CoracleError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import type { CniAttachment, CniNetwork, CniRunner } from './cni.js';
import { LOOPBACK } from './cni-config.js';
import type { EmbeddedNet } from './embedded-net.js';

export interface PodPortMapping {
  protocol: 'tcp' | 'udp' | 'sctp';
  containerPort: number;
  hostPort: number;
  hostIp: string;
}

/**
 * Which network a pod is on: the cluster's (the first config in the CNI conf dir, as libcni
 * picks it), Coracle's own embedded one, or none (its loopback only: docker's --network none).
 */
export type PodNetworkChoice = 'cluster' | 'embedded' | 'none';

/** What the network needs to know of a pod. */
export interface PodAttachment {
  network: PodNetworkChoice;
  id: string;
  name: string;
  namespace: string;
  uid: string;
  /** The pinned netns; may be gone already at tear-down. */
  netns: string;
  portMappings: PodPortMapping[];
}

export interface PodAddresses {
  ip?: string;
  additionalIps: string[];
}

/**
 * A pod's network through CNI: its loopback, then the configured network on eth0 with its
 * hostPorts. Tear-down always runs DEL, whether or not the netns still exists, so that IPAM
 * releases the address: leaked IPs are the most reported bug of both containerd and CRI-O.
 */
export class PodNetwork {
  constructor(
    private readonly runner: CniRunner,
    private readonly networks: { cluster: () => Promise<CniNetwork | undefined>; embedded: CniNetwork },
    private readonly cacheDir: string,
    /** host-local's lease dir of the embedded network: a lease names its container. */
    private readonly ipamDir: string,
    /** The embedded network without the plugin chain, when its subnet allows it. */
    private readonly fast?: EmbeddedNet,
  ) {}

  private attachment(p: PodAttachment, ifName: string): CniAttachment {
    const portMappings = p.portMappings
      .filter((m) => m.hostPort > 0)
      .map((m) => ({ hostPort: m.hostPort, containerPort: m.containerPort, protocol: m.protocol, hostIP: m.hostIp }));
    return {
      containerId: p.id,
      netns: p.netns,
      ifName,
      args: [
        ['K8S_POD_NAMESPACE', p.namespace],
        ['K8S_POD_NAME', p.name],
        ['K8S_POD_INFRA_CONTAINER_ID', p.id],
        ['K8S_POD_UID', p.uid],
      ],
      capabilities: portMappings.length > 0 ? { portMappings } : {},
    };
  }

  private network(which: PodNetworkChoice): Promise<CniNetwork | undefined> {
    if (which === 'none') return Promise.resolve(undefined);
    return which === 'embedded' ? Promise.resolve(this.networks.embedded) : this.networks.cluster();
  }

  async setUp(p: PodAttachment): Promise<PodAddresses> {
    if (p.network === 'none') {
      await this.runner.add(LOOPBACK, this.attachment(p, 'lo'));
      return { additionalIps: [] };
    }
    const net = await this.network(p.network);
    if (!net) throw new CoracleError('FAILED_PRECONDITION', 'no CNI network config in the cluster\'s conf dir: the pod network is not ready');
    // The fast path brings lo up itself. Else two networks on two interfaces of one netns: nothing orders them.
    const result =
      p.network === 'embedded' && this.fast
        ? await this.fast.add(this.attachment(p, 'eth0'))
        : (await Promise.all([this.runner.add(LOOPBACK, this.attachment(p, 'lo')), this.runner.add(net, this.attachment(p, 'eth0'))]))[1];
    const ips = (result.ips ?? []).map((i) => i.address.split('/')[0]!);
    // CRI's primary IP is the IPv4 one when the pod has both families.
    const primary = ips.find((ip) => isIPv4(ip)) ?? ips[0];
    return { ...(primary ? { ip: primary } : {}), additionalIps: ips.filter((ip) => ip !== primary) };
  }

  /**
   * DEL on both networks; both run even if one fails, and the first error is thrown. With
   * `onlyIfAttached`, an interface without a cached ADD result is taken as released: ADD
   * caches before a pod is READY and DEL drops the cache only once it succeeded, so for a
   * pod that got that far the cache is the truth and a second DEL is saved.
   */
  async tearDown(p: PodAttachment, opts: { onlyIfAttached?: boolean } = {}): Promise<void> {
    const net = await this.network(p.network);
    const fast = p.network === 'embedded' ? this.fast : undefined;
    const del = async (network: CniNetwork | undefined, ifName: string): Promise<void> => {
      const a = this.attachment(p, ifName);
      const state = await this.runner.cacheState(a);
      // A cache a power loss tore counts as attached: DEL is due, with what it is given.
      const attached = state !== undefined;
      const cache = state === 'torn' ? undefined : state;
      if (!attached && (opts.onlyIfAttached || (fast && ifName === 'lo'))) return;
      // The fast path's own attachments, and half-made ones (no cache: this daemon's ADD
      // would have used the fast path); a pod that the plugin chain set up goes through it.
      if (fast && ifName === 'eth0' && (!cache || cache.embedded)) return fast.del(a, cache);
      await this.runner.del(network, a);
    };
    const results = await Promise.allSettled([p.network === 'none' ? Promise.resolve() : del(net, 'eth0'), del(LOOPBACK, 'lo')]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * Pod ids the network holds something for: a cached result, or an address lease (a
   * daemon killed inside ADD can leave a lease and no cache). For reconciliation.
   */
  async attachedIds(): Promise<Set<string>> {
    const out = new Set<string>();
    for (const name of await readdir(this.cacheDir).catch(() => [] as string[])) {
      const m = /^([a-f0-9]{64})-(eth0|lo)\.json$/.exec(name);
      if (m) out.add(m[1]!);
    }
    for (const net of await readdir(this.ipamDir).catch(() => [] as string[])) {
      for (const lease of await readdir(join(this.ipamDir, net)).catch(() => [] as string[])) {
        if (!isIP(lease)) continue;
        const id = (await readFile(join(this.ipamDir, net, lease), 'utf8').catch(() => '')).split(/\s/)[0] ?? '';
        if (/^[a-f0-9]{64}$/.test(id)) out.add(id);
      }
    }
    return out;
  }

  /**
   * DEL for a pod known only from the network's own files (its record is gone): with the
   * network its cached result names, else the embedded one, whose leases are the ones seen.
   */
  async tearDownOrphan(id: string, netns: string, log: Logger): Promise<void> {
    await this.tearDown({ network: 'embedded', id, name: '', namespace: '', uid: '', netns, portMappings: [] }).catch((err: unknown) =>
      log.error('CNI DEL of an orphan failed', { sandbox: id, error: messageOf(err) }),
    );
  }
}
