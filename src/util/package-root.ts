import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package's root dir, where package.json, proto/ and native/ are: every file the daemon
 * reads from its own package is found from here. It is found from this module's own place,
 * three levels below the root both in tsc's output (dist/src/util/) and in the daemon's
 * bundle (dist/src/bundle/, scripts/bundle.mjs), so one path serves both.
 */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A path inside the package. */
export const packagePath = (...parts: string[]): string => join(PACKAGE_ROOT, ...parts);

/** The daemon's bundle of the CLI's main module, which scripts/bundle.mjs writes at build. */
export const DAEMON_BUNDLE = packagePath('dist', 'src', 'bundle', 'main.js');

/** The newest modification time of the .js files under `dir`, its subdirs but `skip` included. */
function newestJs(dir: string, skip: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (path !== skip) newest = Math.max(newest, newestJs(path, skip));
    } else if (e.name.endsWith('.js')) {
      newest = Math.max(newest, statSync(path).mtimeMs);
    }
  }
  return newest;
}

/**
 * The script the daemon runs from: its bundle when the build made one from tsc's output as it
 * is now, else this process's own. A bundle older than any module tsc wrote (a `tsc` alone,
 * or `tsc -w`, after the last `npm run build`) is of older code: it is passed over, not run.
 * A walk of some 500 files, once, at the daemon's start.
 */
export function daemonScript(): string | undefined {
  const bundle = statSync(DAEMON_BUNDLE, { throwIfNoEntry: false })?.mtimeMs;
  if (bundle === undefined) return process.argv[1];
  const src = packagePath('dist', 'src');
  return bundle >= newestJs(src, join(src, 'bundle')) ? DAEMON_BUNDLE : process.argv[1];
}
