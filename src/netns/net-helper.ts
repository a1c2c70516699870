import { findExecutable } from '../util/executable.js';
import { runNative } from '../util/native.js';

/** What coracle-net add made: the host's end of the pair, and the MACs for the CNI result. */
export interface VethMade {
  hostVeth: string;
  hostMac: string;
  bridgeMac: string;
  mac: string;
}

export interface VethRequest {
  netns: string;
  bridge: string;
  hostVeth: string;
  ifName: string;
  /** ADDR/PREFIX */
  address: string;
  gateway: string;
  mac: string;
}

const HELPER = 'coracle-net';

/**
 * The native helper of the embedded network (native/coracle-net.c). It is looked up in the
 * CNI bin dirs first, then among Coracle's own helpers: a stand-in there takes its place, as a
 * plugin's would, so that tests make it fail on cue. The bin dirs are root's config and hold
 * the plugins that already run as root: they grant nothing more. Looked up at every call, as
 * plugins are.
 */
export class NetHelper {
  constructor(private readonly binDirs: readonly string[]) {}

  private async binary(): Promise<string | undefined> {
    return findExecutable(HELPER, this.binDirs);
  }

  /** The veth pair into `netns`, its address, routes and loopback (see the helper's header). */
  async add(r: VethRequest, what: string): Promise<VethMade> {
    const args = ['add', '-n', r.netns, '-b', r.bridge, '-v', r.hostVeth, '-i', r.ifName, '-a', r.address, '-g', r.gateway, '-m', r.mac];
    return runNative<VethMade>(HELPER, args, what, await this.binary());
  }

  /** Cuts the pod off: its host veth off the bridge and down; none there is no error. */
  async detach(bridge: string, hostVeth: string, what: string): Promise<void> {
    await runNative<{ detached: boolean }>(HELPER, ['del', '-b', bridge, '-v', hostVeth], what, await this.binary());
  }
}
