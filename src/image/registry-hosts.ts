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
}

/** Docker Hub's API does not live at its name. */
const DOCKER_HUB_API = 'https://registry-1.docker.io';

/** Mirrors in order, then the host itself unless `no_fallback`; plain http only if allowed. */
export function endpointsFor(registry: string, hosts: Record<string, RegistryHostConfig>): Endpoint[] {
  const host = hosts[registry];
  const out: Endpoint[] = (host?.mirrors ?? []).map((url) => ({ url: url.replace(/\/+$/, '').replace(/\/v2$/, ''), mirror: true }));
  if (!host?.no_fallback) {
    const url = registry === 'docker.io' ? DOCKER_HUB_API : `${host?.plain_http ? 'http' : 'https'}://${registry}`;
    out.push({ url, mirror: false });
  }
  return out;
}
