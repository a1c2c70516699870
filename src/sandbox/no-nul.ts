import { invalidArgument } from '../errors.js';

/**
 * Refuses a request whose strings hold a NUL byte anywhere but in `skip` (labels and
 * annotations, only ever stored as JSON): such a string reaches a file name, an argument,
 * an environment variable or a sysctl, where Node throws a TypeError and the kernel would
 * cut it short. Found by test/cri/server-fuzz.test.ts.
 */
export function refuseNul(what: string, value: unknown, skip: ReadonlySet<string> = new Set(['labels', 'annotations'])): void {
  const walk = (v: unknown, path: string): void => {
    if (typeof v === 'string') {
      if (v.includes('\0')) throw invalidArgument(`${what}: ${path || 'a value'} ${JSON.stringify(v.slice(0, 100))} holds a NUL byte`);
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${path}[${i}]`));
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (skip.has(k)) continue;
        if (k.includes('\0')) throw invalidArgument(`${what}: a key of ${path || 'the request'} holds a NUL byte`);
        walk(x, path ? `${path}.${k}` : k);
      }
    }
  };
  walk(value, '');
}
