import { parse, TomlError } from 'smol-toml';
import type * as z from 'zod/mini';
import { isErrno, messageOf } from '../errors.js';
import { readRegularFile } from '../util/bounded-read.js';
import { DEFAULT_CONFIG_PATH, DEFAULT_CONFIG_TOML } from './defaults.js';
import { formatKeyPath, lineOfKey, type KeyPath } from './key-lines.js';
import { configSchema, type Config } from './schema.js';

export { DEFAULT_CONFIG_PATH } from './defaults.js';
/** A config file is a few KiB; it is read up to this size, and a FIFO in its place is refused. */
const MAX_CONFIG_BYTES = 1 << 20;

/** Values given on the command line; they win over the file. */
export interface ConfigOverrides {
  root?: string;
  state?: string;
  socket?: string;
  logLevel?: string;
  logFormat?: string;
  listen?: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

type Table = Record<string, unknown>;

const isTable = (v: unknown): v is Table =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Lays `over` onto `base`: tables merge key by key, anything else is replaced. */
function merge(base: Table, over: Table): Table {
  const out: Table = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] = isTable(prev) && isTable(value) ? merge(prev, value) : value;
  }
  return out;
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value instanceof Date) return 'date';
  if (isTable(value)) return 'table';
  if (typeof value === 'number' && !Number.isInteger(value)) return 'float';
  if (typeof value === 'number') return 'integer';
  return typeof value;
}

function valueAt(root: unknown, path: KeyPath): unknown {
  let v = root;
  for (const part of path) v = isTable(v) || Array.isArray(v) ? (v as Table)[part as string] : undefined;
  return v;
}

function describe(issue: z.core.$ZodIssue, input: unknown): string {
  switch (issue.code) {
    case 'invalid_type': {
      const got = valueAt(input, issue.path as KeyPath);
      if (got === undefined) return 'is required';
      const expected = issue.expected === 'int' ? 'integer' : issue.expected;
      return `expected ${expected}, got ${typeName(got)}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return issue.message;
  }
}

/** `where` names the source of a problem: `file:line`, the file alone, or the flags. */
function problemsOf(
  error: z.core.$ZodError,
  input: unknown,
  file: { path: string; text: string } | undefined,
): string[] {
  const where = (path: KeyPath): string => {
    if (!file) return 'config';
    const line = lineOfKey(file.text, path);
    return line === undefined ? file.path : `${file.path}:${line}`;
  };
  const out: string[] = [];
  for (const issue of error.issues) {
    const path = issue.path as KeyPath;
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push(`${where([...path, key])}: unknown key ${formatKeyPath([...path, key])}`);
      }
    } else {
      out.push(`${where(path)}: key ${formatKeyPath(path)}: ${describe(issue, input)}`);
    }
  }
  return out;
}

function overridesTable(o: ConfigOverrides): Table {
  const t: Table = {};
  if (o.root !== undefined) t.root = o.root;
  if (o.state !== undefined) t.state = o.state;
  if (o.socket !== undefined) t.grpc = { socket: o.socket };
  if (o.logLevel !== undefined || o.logFormat !== undefined) {
    const log: Table = {};
    if (o.logLevel !== undefined) log.level = o.logLevel;
    if (o.logFormat !== undefined) log.format = o.logFormat;
    t.log = log;
  }
  if (o.listen !== undefined) t.remote = { listen: o.listen };
  return t;
}

export function defaultConfig(): Config {
  return configSchema.parse(parse(DEFAULT_CONFIG_TOML));
}

/**
 * Reads the config: embedded defaults, then the file, then the flags. `path` is the file
 * named by --config (it must exist) or undefined for the default path (it may be absent).
 */
export async function loadConfig(
  path: string | undefined,
  overrides: ConfigOverrides = {},
): Promise<{ config: Config; file: string | undefined }> {
  const filePath = path ?? DEFAULT_CONFIG_PATH;
  let file: { path: string; text: string } | undefined;
  try {
    file = { path: filePath, text: (await readRegularFile(filePath, { max: MAX_CONFIG_BYTES, what: 'config file' })).toString('utf8') };
  } catch (err) {
    // A system error (ENOENT, EACCES) is the cause; "not a regular file" and "too large" have none.
    const cause = err instanceof Error ? err.cause : undefined;
    if (!(isErrno(cause, 'ENOENT') && path === undefined)) {
      throw new ConfigError([isErrno(cause) ? `${filePath}: cannot read: ${cause.message}` : messageOf(err)]);
    }
  }
  let fromFile: Table = {};
  if (file) {
    try {
      fromFile = parse(file.text) as Table;
    } catch (err) {
      if (err instanceof TomlError) {
        const first = err.message.split('\n')[0];
        throw new ConfigError([`${file.path}:${err.line}:${err.column}: TOML syntax: ${first}`]);
      }
      throw err;
    }
  }
  const withFile = merge(parse(DEFAULT_CONFIG_TOML) as Table, fromFile);
  const fileResult = configSchema.safeParse(withFile);
  if (!fileResult.success) throw new ConfigError(problemsOf(fileResult.error, withFile, file));
  const input = merge(withFile, overridesTable(overrides));
  const result = configSchema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(
      problemsOf(result.error, input, undefined).map((p) => p.replace(/^config:/, 'flag:')),
    );
  }
  return { config: result.data, file: file?.path };
}
