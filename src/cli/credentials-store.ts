import { chmod, mkdir, open, realpath, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CoracleError, isErrno, messageOf } from '../errors.js';
import { credentialsFor, MAX_DOCKER_CONFIG_BYTES, parseDockerConfig, type DockerConfig } from '../image/docker-config.js';
import { parseReference } from '../image/reference.js';
import type { RegistryCredentials } from '../image/registry-auth.js';
import { readRegularFile } from '../util/bounded-read.js';

/**
 * The CLI's credentials: docker's own file, `$DOCKER_CONFIG/config.json` when DOCKER_CONFIG
 * names a directory, else `~/.docker/config.json`, so that `docker login` and `coracle login`
 * share it. Written whole to a file beside it and renamed over it (mode 0600, its directory
 * made 0700), every key coracle does not know kept as it was.
 */
export function credentialsPath(): string {
  const dir = process.env.DOCKER_CONFIG || join(homedir(), '.docker');
  return join(dir, 'config.json');
}

/** The file's config; an absent file is an empty one. */
export async function loadCredentials(path = credentialsPath()): Promise<DockerConfig> {
  let text: Buffer;
  try {
    text = await readRegularFile(path, { max: MAX_DOCKER_CONFIG_BYTES, what: 'docker config' });
  } catch (err) {
    if (err instanceof Error && isErrno(err.cause, 'ENOENT')) return {};
    throw err;
  }
  return parseDockerConfig(text.toString('utf8'), path);
}

/** Replaces the file with `doc`, atomically; a symbolic link in its place is followed, as docker does. */
export async function saveCredentials(doc: DockerConfig, path = credentialsPath()): Promise<void> {
  let target = path;
  try {
    target = await realpath(path);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw new CoracleError('INTERNAL', `docker config ${path}: ${messageOf(err)}`, { cause: err });
  }
  await mkdir(dirname(target), { recursive: true, mode: 0o700 });
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(JSON.stringify(doc, null, '\t') + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    // The mode asked at open is narrowed by the umask, never widened; set it exactly.
    await chmod(tmp, 0o600);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new CoracleError('INTERNAL', `docker config ${target}: cannot write: ${messageOf(err)}`, { cause: err });
  }
}

/** CRI's AuthConfig, as the CLI sends it with a pull (crictl's way: user and password split). */
export interface PullAuth {
  username?: string;
  password?: string;
  server_address?: string;
  identity_token?: string;
  registry_token?: string;
}

function toPullAuth(c: RegistryCredentials): PullAuth {
  return {
    ...(c.username !== undefined ? { username: c.username, password: c.password ?? '' } : {}),
    ...(c.serverAddress !== undefined ? { server_address: c.serverAddress } : {}),
    ...(c.identityToken !== undefined ? { identity_token: c.identityToken } : {}),
    ...(c.registryToken !== undefined ? { registry_token: c.registryToken } : {}),
  };
}

/**
 * The credentials the file holds for `image`'s registry, if any. A file that cannot be read
 * is warned about and the pull goes on without (as docker does); the warning never quotes
 * the file's content.
 */
export async function pullAuthFor(image: string): Promise<PullAuth | undefined> {
  let registry: string;
  try {
    registry = parseReference(image).registry;
  } catch {
    return undefined; // the daemon says what is wrong with the name
  }
  const path = credentialsPath();
  try {
    const c = credentialsFor(await loadCredentials(path), registry, path);
    return c ? toPullAuth(c) : undefined;
  } catch (err) {
    process.stderr.write(`WARNING: error loading config file ${path}: ${messageOf(err)}\n`);
    return undefined;
  }
}

/** A pull the registry refused, in docker's words (with the daemon's account after them). */
export function pullDenied(image: string, err: unknown): unknown {
  if (!(err instanceof CoracleError) || (err.code !== 'UNAUTHENTICATED' && err.code !== 'PERMISSION_DENIED')) return err;
  return new CoracleError(err.code, `pull access denied for ${image}, repository does not exist or may require 'coracle login': ${err.message}`, { cause: err });
}
