/** Where to pull a registry host's images from, per the [registry.hosts] config. */
export interface RegistryHostConfig {
  mirrors: string[];
  plain_http: boolean;
  no_fallback: boolean;
}

export interface Endpoint {
  /** Base URL, without /v2: "https://registry-1.docker.io", "http://127.0.0.1:5000". */
  url: string;
  mirror: boolean;
  /** The registry host the pull is for: the image reference's host ("docker.io"). */
  registry: string;
  /**
   * The host that credentials must be given for to be sent here: the registry's own name
   * for the registry itself, the mirror's host (host:port of its URL) for a mirror.
   */
  authHost: string;
  /**
   * Credentials may travel to this endpoint: its URL is https, or `authHost` is listed in
   * [registry.hosts] with plain_http (for the registry itself, that is what made it http).
   */
  credentialsAllowed: boolean;
}

/** Docker Hub's API does not live at its name. */
const DOCKER_HUB_API = 'https://registry-1.docker.io';

/** Mirrors in order, then the host itself unless `no_fallback`; plain http only if allowed. */
export function endpointsFor(registry: string, hosts: Record<string, RegistryHostConfig>): Endpoint[] {
  const host = hosts[registry];
  const out: Endpoint[] = (host?.mirrors ?? []).map((raw) => {
    const url = raw.replace(/\/+$/, '').replace(/\/v2$/, '');
    const authHost = new URL(url).host;
    return { url, mirror: true, registry, authHost, credentialsAllowed: url.startsWith('https://') || hosts[authHost]?.plain_http === true };
  });
  if (!host?.no_fallback) {
    const url = registry === 'docker.io' ? DOCKER_HUB_API : `${host?.plain_http ? 'http' : 'https'}://${registry}`;
    out.push({ url, mirror: false, registry, authHost: registry, credentialsAllowed: true });
  }
  return out;
}
