import { CoracleError } from '../errors.js';
import type { Endpoint } from './registry-hosts.js';

/** Credentials for a registry, as CRI's AuthConfig carries them. */
export interface RegistryCredentials {
  /**
   * The registry they were given for (CRI's server_address: "https://index.docker.io/v1/",
   * "registry.example:5000"); unset, the image reference's registry.
   */
  serverAddress?: string;
  username?: string;
  password?: string;
  /** A refresh token for the registry's token server. */
  identityToken?: string;
  /** A bearer token to send as it is. */
  registryToken?: string;
}

export interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (quoted or token values). */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'bearer' && scheme !== 'basic') return undefined;
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme, params };
}

export function basicHeader(c: RegistryCredentials): string | undefined {
  if (c.username === undefined) return undefined;
  return `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
}

/** Docker Hub's names: its references say docker.io, its credentials index.docker.io. */
const DOCKER_HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

function canonicalHost(host: string): string {
  const h = host.toLowerCase();
  return DOCKER_HUB_NAMES.has(h) ? 'docker.io' : h;
}

/**
 * The host (host[:port]) a server_address names: a URL's host, or what precedes the first
 * `/` when it has no scheme (kubelet passes its keyring's keys, with or without one).
 */
export function serverAddressHost(address: string): string {
  const text = address.trim();
  let host: string;
  try {
    host = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? new URL(text).host : new URL(`https://${text.split('/')[0]}`).host;
  } catch {
    host = '';
  }
  if (!host) throw new CoracleError('INVALID_ARGUMENT', `auth: server_address ${JSON.stringify(address)} names no host`);
  return canonicalHost(host);
}

/**
 * The credentials an endpoint may receive: only those given for its own host (server_address,
 * else the image's registry; a mirror's host is its URL's), and over plain http only to a
 * host configured with plain_http. `withheld` says why some were not, for the error a 401
 * then gives. containerd too drops CRI credentials whose server_address names another host.
 */
export function scopeCredentials(credentials: RegistryCredentials | undefined, endpoint: Endpoint): { credentials?: RegistryCredentials; withheld?: string } {
  if (!credentials) return {};
  const givenFor = credentials.serverAddress ? serverAddressHost(credentials.serverAddress) : canonicalHost(endpoint.registry);
  if (givenFor !== canonicalHost(endpoint.authHost)) {
    return { withheld: `the credentials given are for ${givenFor}, not sent to ${endpoint.authHost}` };
  }
  if (!endpoint.credentialsAllowed) {
    return { withheld: `credentials are not sent over plain http to ${endpoint.authHost}, which [registry.hosts] does not list with plain_http` };
  }
  return { credentials };
}
