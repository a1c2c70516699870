import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CoracleError, codeForErrno, type ErrorCode } from '../errors.js';

/** Where `make -C native` puts the helpers. */
export const NATIVE_DIR = fileURLToPath(new URL('../../../native/build/', import.meta.url));

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
export function runNative<T>(name: string, args: string[], what: string, binary = `${NATIVE_DIR}${name}`): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { timeout: 30_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      let doc: (T & { error?: undefined }) | { error: string; errno: number } | undefined;
      try {
        doc = line ? (JSON.parse(line) as typeof doc) : undefined;
      } catch {
        doc = undefined;
      }
      if (doc && 'error' in doc && doc.error !== undefined) {
        const d = doc as { error: string; errno: number };
        reject(new NativeError(d.errno === 1 || d.errno === 13 ? 'PERMISSION_DENIED' : (codeForErrno(d.errno) ?? 'INTERNAL'), `${what}: ${name}: ${d.error}`, d.errno));
      } else if (err || !doc) {
        reject(new NativeError('INTERNAL', `${what}: ${name}: ${err?.message ?? 'no output'}${stderr ? `: ${stderr.trim()}` : ''}`, 0));
      } else {
        resolve(doc as T);
      }
    });
  });
}
