import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { isErrno, messageOf } from '../errors.js';
import { findExecutable } from '../util/executable.js';
import type { CniNetwork } from './cni.js';
import { parseNetwork } from './cni-config.js';

/** What the CNI conf dir holds, as NetworkReady reports it. */
export interface CniProbe {
  ready: boolean;
  /** Why not ready; empty when ready. */
  message: string;
  confFile?: string;
  network?: string;
  cniVersion?: string;
  plugins: { type: string; path?: string }[];
  /** Files passed over, with the reason, so that an operator sees why theirs was not used. */
  skipped: { file: string; reason: string }[];
}

const CONF_EXTENSIONS = new Set(['.conf', '.conflist', '.json']);

/**
 * Finds the network config the pod network will use (the first usable file by name, like
 * libcni) and checks that every plugin it chains has a binary.
 */
export async function probeCni(confDir: string, binDirs: readonly string[]): Promise<CniProbe> {
  const skipped: CniProbe['skipped'] = [];
  let names: string[];
  try {
    names = (await readdir(confDir)).filter((n) => CONF_EXTENSIONS.has(extname(n))).sort();
  } catch (err) {
    // No dir yet is the usual state of a node whose network plugin is still to come.
    if (!isErrno(err, 'ENOENT')) return { ready: false, message: `cannot read CNI conf dir ${confDir}: ${messageOf(err)}`, plugins: [], skipped };
    names = [];
  }
  for (const name of names) {
    const file = join(confDir, name);
    let text: string;
    try {
      // A FIFO or device here would block the read, and Status with it.
      if (!(await stat(file)).isFile()) {
        skipped.push({ file, reason: 'not a regular file' });
        continue;
      }
      text = await readFile(file, 'utf8');
    } catch (err) {
      skipped.push({ file, reason: messageOf(err) });
      continue;
    }
    let conf: CniNetwork;
    try {
      conf = parseNetwork(file, text);
      if (conf.plugins.some((p) => typeof p.type !== 'string' || p.type === '')) throw new Error('a plugin has no type');
    } catch (err) {
      skipped.push({ file, reason: err instanceof SyntaxError ? `not JSON: ${err.message}` : messageOf(err) });
      continue;
    }
    const plugins = await Promise.all(
      conf.plugins.map(async ({ type }) => {
        const path = await findExecutable(type, binDirs);
        return path ? { type, path } : { type };
      }),
    );
    const missing = plugins.filter((p) => p.path === undefined).map((p) => p.type);
    return {
      ready: missing.length === 0,
      message:
        missing.length === 0
          ? ''
          : `CNI network ${conf.name} (${file}): plugin ${missing.join(', ')} not found in ${binDirs.join(', ')}`,
      confFile: file,
      network: conf.name,
      cniVersion: conf.cniVersion,
      plugins,
      skipped,
    };
  }
  return {
    ready: false,
    message: `no usable CNI network config in ${confDir}`,
    plugins: [],
    skipped,
  };
}
