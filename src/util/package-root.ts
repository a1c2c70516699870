import { existsSync } from 'node:fs';
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

/** The script the daemon runs from: its bundle when the build made one, else this process's own. */
export function daemonScript(): string | undefined {
  return existsSync(DAEMON_BUNDLE) ? DAEMON_BUNDLE : process.argv[1];
}
