import { CoracleError, codeForErrno, messageOf, type ErrorCode } from '../errors.js';
import { packagePath } from './package-root.js';
import { failureOf, runToEnd } from './vfork-spawn.js';

/** Where `make -C native` puts the helpers. */
export const NATIVE_DIR = packagePath('native', 'build') + '/';

/** A helper's failure: its message and errno, from its JSON line. */
export class NativeError extends CoracleError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly errno: number,
  ) {
    super(code, message);
  }
}

/**
 * Runs a native helper: argv in, one JSON line out. A helper that exits non-zero says why
 * in `{"error","errno"}`; one that dies without a line is reported with its stderr. `binary`
 * is where it is when not in NATIVE_DIR (a test's stand-in that fails on cue).
 */
export async function runNative<T>(name: string, args: string[], what: string, binary = `${NATIVE_DIR}${name}`): Promise<T> {
  const r = await runToEnd(binary, args, { timeoutMs: 30_000, maxBuffer: 1 << 20 }).catch((err: unknown) => {
    throw new NativeError('INTERNAL', `${what}: ${name}: ${messageOf(err)}`, 0);
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let doc: (T & { error?: undefined }) | { error: string; errno: number } | undefined;
  try {
    doc = line ? (JSON.parse(line) as typeof doc) : undefined;
  } catch {
    doc = undefined;
  }
  if (doc && 'error' in doc && doc.error !== undefined) {
    const d = doc as { error: string; errno: number };
    throw new NativeError(d.errno === 1 || d.errno === 13 ? 'PERMISSION_DENIED' : (codeForErrno(d.errno) ?? 'INTERNAL'), `${what}: ${name}: ${d.error}`, d.errno);
  }
  const failure = failureOf(binary, r);
  if (failure || !doc) throw new NativeError('INTERNAL', `${what}: ${name}: ${failure ?? 'no output'}${r.stderr ? `: ${r.stderr.trim()}` : ''}`, 0);
  return doc as T;
}
