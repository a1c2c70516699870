// Bundles what the daemon runs into dist/src/bundle/ (run by `npm run build`, after tsc).
// Why: the daemon is one long-lived process, and Node keeps every module it loads: tsc's
// output is some 250 modules of ours and of npm packages, each with its source text, scope
// and wrapper kept. One minified bundle of the same code (split at its dynamic imports, so
// that what `serve` loads lazily still loads lazily) leaves a fresh daemon about 5 MiB
// smaller. esbuild is the bundler made for this; nothing here is hand-written bundling.
//
// The bundle sits three levels below the package root, as tsc's dist/src/<dir>/ files do,
// so that paths found from a module's own place (util/package-root.ts) are the same in both.
// Native addons stay outside (loaded with require from node_modules), as do the packages the
// code loads with createRequire at first use (ws, pako, tar-stream, node-pty, zstd-napi).
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

const outdir = 'dist/src/bundle';
// Chunks are named by their content's hash: the last build's would stay beside the new ones.
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { main: 'dist/src/cli/main.js', 'unpack-worker': 'dist/src/image/unpack-worker.js' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  // Stacks name the bundle's lines; the map beside it turns them back into ours.
  sourcemap: 'linked',
  external: ['koffi', 'zstd-napi', 'node-pty'],
  // CommonJS packages inside an ES module bundle still call require (for Node's own modules).
  banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
  logLevel: 'warning',
});
