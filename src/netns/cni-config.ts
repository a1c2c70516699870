import { readdir, readFile, mkdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { CoracleError, messageOf } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { CniNetwork } from './cni.js';

export interface DefaultNetwork {
  name: string;
  bridge: string;
  subnet: string;
  /** host-local's lease dir: under Coracle's root, not the host-wide /var/lib/cni. */
  ipamDir: string;
}

export const DEFAULT_CONFLIST = '10-coracle.conflist';

/** The embedded pod network: a bridge with host-local IPAM, hostPorts through portmap. */
export function defaultNetwork(d: DefaultNetwork): CniNetwork {
  return {
    cniVersion: '1.0.0',
    name: d.name,
    plugins: [
      {
        type: 'bridge',
        bridge: d.bridge,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: d.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: d.ipamDir },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}

/** The loopback of every pod's netns, brought up as its own one-plugin network. */
export const LOOPBACK: CniNetwork = { cniVersion: '1.0.0', name: 'cni-loopback', plugins: [{ type: 'loopback' }] };

/** Reads a conf file as libcni does: .conflist as is, .conf/.json as a list of one. */
export function parseNetwork(file: string, text: string): CniNetwork {
  const doc = JSON.parse(text) as Partial<CniNetwork> & { type?: string };
  if (typeof doc.name !== 'string') throw new Error('no network name');
  const cniVersion = typeof doc.cniVersion === 'string' ? doc.cniVersion : '0.4.0';
  if (extname(file) === '.conflist') {
    if (!Array.isArray(doc.plugins) || doc.plugins.length === 0) throw new Error('no plugins');
    return { cniVersion, name: doc.name, plugins: doc.plugins };
  }
  if (typeof doc.type !== 'string') throw new Error('no plugin type');
  const { name, cniVersion: _v, ...plugin } = doc;
  void _v;
  return { cniVersion, name, plugins: [plugin as CniNetwork['plugins'][number]] };
}

/** The first usable network in `confDir` by file name, as libcni picks it. */
export async function loadNetwork(confDir: string): Promise<CniNetwork | undefined> {
  let names: string[];
  try {
    names = (await readdir(confDir)).filter((n) => ['.conf', '.conflist', '.json'].includes(extname(n))).sort();
  } catch {
    return undefined;
  }
  for (const name of names) {
    try {
      return parseNetwork(name, await readFile(join(confDir, name), 'utf8'));
    } catch {
      continue;
    }
  }
  return undefined;
}

/**
 * Writes Coracle's own network, as the config describes it, into Coracle's own conf dir (never
 * the cluster's: a config there would win over the cluster's plugin, or turn NetworkReady true
 * before it is installed). Rewritten at every start, so it follows the config.
 */
export async function writeOwnNetwork(ownConfDir: string, d: DefaultNetwork): Promise<CniNetwork> {
  const network = defaultNetwork(d);
  try {
    await mkdir(ownConfDir, { recursive: true });
    // Not fsynced: rewritten from the config at every start, before any pod is made.
    await writeFileAtomic(join(ownConfDir, DEFAULT_CONFLIST), JSON.stringify(network, null, 2) + '\n');
  } catch (err) {
    throw new CoracleError('FAILED_PRECONDITION', `CNI conf dir ${ownConfDir}: cannot write ${DEFAULT_CONFLIST}: ${messageOf(err)}`);
  }
  return network;
}

/**
 * The config an earlier Coracle wrote into the cluster's conf dir (it did, when the dir was
 * empty), if it is there: libcni order makes it the cluster's network, so it is named at start.
 */
export async function earlierOwnConfig(confDir: string, networkName: string): Promise<string | undefined> {
  const file = join(confDir, DEFAULT_CONFLIST);
  try {
    return parseNetwork(file, await readFile(file, 'utf8')).name === networkName ? file : undefined;
  } catch {
    return undefined;
  }
}
