import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { messageOf } from '../errors.js';
import { findExecutable } from '../util/executable.js';

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

interface ParsedConf {
  name: string;
  cniVersion?: string;
  types: string[];
}

/** A .conflist has `plugins`; a .conf/.json is one plugin, as libcni reads them. */
function parseConf(file: string, text: string): ParsedConf | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${messageOf(err)}`;
  }
  if (typeof doc !== 'object' || doc === null) return 'not a JSON object';
  const conf = doc as { name?: unknown; cniVersion?: unknown; plugins?: unknown; type?: unknown };
  if (typeof conf.name !== 'string' || conf.name === '') return 'no network name';
  const cniVersion = typeof conf.cniVersion === 'string' ? conf.cniVersion : undefined;
  if (extname(file) === '.conflist') {
    if (!Array.isArray(conf.plugins) || conf.plugins.length === 0) return 'no plugins';
    const types: string[] = [];
    for (const p of conf.plugins as unknown[]) {
      const type = (p as { type?: unknown } | null)?.type;
      if (typeof type !== 'string' || type === '') return 'a plugin has no type';
      types.push(type);
    }
    return { name: conf.name, cniVersion, types };
  }
  if (typeof conf.type !== 'string' || conf.type === '') return 'no plugin type';
  return { name: conf.name, cniVersion, types: [conf.type] };
}

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
    return { ready: false, message: `cannot read CNI conf dir ${confDir}: ${messageOf(err)}`, plugins: [], skipped };
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
    const conf = parseConf(file, text);
    if (typeof conf === 'string') {
      skipped.push({ file, reason: conf });
      continue;
    }
    const plugins = await Promise.all(
      conf.types.map(async (type) => {
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
      ...(conf.cniVersion !== undefined ? { cniVersion: conf.cniVersion } : {}),
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
