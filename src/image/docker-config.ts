import { CoracleError } from '../errors.js';
import { serverAddressHost, type RegistryCredentials } from './registry-auth.js';

/**
 * docker's config.json, the part of it that holds registry credentials:
 * `{"auths": {"<server>": {"auth": base64(user:password)}}}`, keyed by host[:port], Docker
 * Hub's as `https://index.docker.io/v1/` (as docker writes it). Read by the CLI (its own
 * ~/.docker/config.json, which `coracle login` writes) and by the daemon ([registry]
 * config_path). Every other key of the file is kept as it is and otherwise ignored:
 * credential helpers (credsStore, credHelpers) are not supported.
 *
 * Written here and not taken from a library: the format is a JSON object with a few known
 * keys, and the npm packages that read it also run credential helpers, which Coracle never
 * does.
 */
export type DockerConfig = Record<string, unknown>;

/** docker's key for Docker Hub's credentials. */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

/** A config file is a few KiB; it is read up to this size. */
export const MAX_DOCKER_CONFIG_BYTES = 1 << 20;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The key `server` is stored under: Docker Hub's by any of its names, else host[:port]. */
export function configKeyFor(server: string): string {
  const host = serverAddressHost(server);
  return host === 'docker.io' ? DOCKER_HUB_KEY : host;
}

/** The file's text as a config: a JSON object whose `auths`, when present, is an object. */
export function parseDockerConfig(text: string, where: string): DockerConfig {
  let doc: unknown;
  try {
    doc = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    // Not JSON.parse's message: it quotes the text around the error, which may be a secret.
    throw new CoracleError('INVALID_ARGUMENT', `${where}: not JSON`);
  }
  if (!isObject(doc)) throw new CoracleError('INVALID_ARGUMENT', `${where}: not a JSON object`);
  if (doc.auths !== undefined && !isObject(doc.auths)) throw new CoracleError('INVALID_ARGUMENT', `${where}: "auths" is not an object`);
  return doc;
}

function authsOf(doc: DockerConfig): Record<string, unknown> {
  return isObject(doc.auths) ? doc.auths : {};
}

/** The host a key is for, or undefined for a key that names none (never matched). */
function hostOfKey(key: string): string | undefined {
  try {
    return serverAddressHost(key);
  } catch {
    return undefined;
  }
}

/** The key of the entry for `host` (host[:port], as a reference or an endpoint names it), if any. */
export function entryKeyFor(doc: DockerConfig, host: string): string | undefined {
  const want = serverAddressHost(host);
  const keys = Object.keys(authsOf(doc));
  // The exact key first (as docker does), then any key naming the same host.
  return keys.find((k) => k === host) ?? keys.find((k) => hostOfKey(k) === want);
}

/**
 * The credentials the file holds for `host`, for the registry client (which sends them only
 * to that host: serverAddress is the entry's key). `where` names the file in errors, which
 * never quote a value of the entry.
 */
export function credentialsFor(doc: DockerConfig, host: string, where: string): RegistryCredentials | undefined {
  const key = entryKeyFor(doc, host);
  if (key === undefined) return undefined;
  const entry = authsOf(doc)[key];
  if (!isObject(entry)) throw new CoracleError('INVALID_ARGUMENT', `${where}: auths.${JSON.stringify(key)} is not an object`);
  const out: RegistryCredentials = { serverAddress: key };
  const str = (name: string): string | undefined => (typeof entry[name] === 'string' && entry[name] !== '' ? (entry[name] as string) : undefined);
  const auth = str('auth');
  if (auth !== undefined) {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new CoracleError('INVALID_ARGUMENT', `${where}: auths.${JSON.stringify(key)}.auth is not base64 of user:password`);
    out.username = decoded.slice(0, colon);
    out.password = decoded.slice(colon + 1);
  } else if (str('username') !== undefined) {
    out.username = str('username')!;
    out.password = str('password') ?? '';
  }
  const identity = str('identitytoken');
  if (identity !== undefined) out.identityToken = identity;
  const registryToken = str('registrytoken');
  if (registryToken !== undefined) out.registryToken = registryToken;
  return Object.keys(out).length > 1 ? out : undefined;
}

/** The config with `key`'s entry set to user:password (as docker login stores it); other keys kept. */
export function withLogin(doc: DockerConfig, key: string, username: string, password: string): DockerConfig {
  const auths = { ...authsOf(doc) };
  // The same host under another spelling of its key would be found first by some readers.
  const host = hostOfKey(key);
  for (const k of Object.keys(auths)) if (k !== key && host !== undefined && hostOfKey(k) === host) delete auths[k];
  auths[key] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
  return { ...doc, auths };
}

/** The config without any entry for `key`'s host, and whether there was one. */
export function withoutLogin(doc: DockerConfig, key: string): { doc: DockerConfig; removed: boolean } {
  const auths = { ...authsOf(doc) };
  const host = hostOfKey(key);
  const gone = Object.keys(auths).filter((k) => k === key || (host !== undefined && hostOfKey(k) === host));
  for (const k of gone) delete auths[k];
  return { doc: { ...doc, auths }, removed: gone.length > 0 };
}
