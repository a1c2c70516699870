import { readRegularFile } from '../util/bounded-read.js';
import { MAX_DOCKER_CONFIG_BYTES, parseDockerConfig, type DockerConfig } from './docker-config.js';

/**
 * The daemon's own credentials file ([registry] config_path), read at each pull that needs
 * it, so that a changed file takes effect without a restart. It holds secrets and is
 * trusted for every pull: it must be root's and readable by root alone (mode 0600 or
 * stricter), checked on the descriptor that is read. Errors name the file and the problem,
 * and are FAILED_PRECONDITION: the node is misconfigured, the request is fine.
 */
export async function readCredentialsFile(path: string): Promise<DockerConfig> {
  const what = '[registry] config_path';
  const text = await readRegularFile(path, {
    max: MAX_DOCKER_CONFIG_BYTES,
    what,
    code: 'FAILED_PRECONDITION',
    check: (st) => {
      if (st.uid !== 0) return `owned by uid ${st.uid}, not root: refused`;
      const mode = st.mode & 0o7777;
      if ((mode & 0o077) !== 0) return `mode ${mode.toString(8).padStart(4, '0')}: readable or writable by others than root; it must be 0600 or stricter`;
      return undefined;
    },
  });
  return parseDockerConfig(text.toString('utf8'), `${what} ${path}`);
}
